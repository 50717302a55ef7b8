"""Callables built on a compiled object: a vjp's bound backward function, a sparse Hessian."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .. import backends
from ..errors import InputError
from ..tracing.pytree import describe_value, leaves_as
from .compiled import Compiled


class CompiledWrapper:
    """A callable built on one compiled object, showing its ``source`` and ``outputs``."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled

    @property
    def source(self) -> str:
        return self.compiled.source

    @property
    def outputs(self):
        return self.compiled.outputs


class BoundFunction(CompiledWrapper):
    """A compiled object with its leading arguments fixed (what ``vjp`` returns)."""

    def __init__(self, compiled: Compiled, bound: tuple, wrap_single: bool, tree=None) -> None:
        super().__init__(compiled)
        self.bound = bound
        self.wrap_single = wrap_single
        self.tree = tree  # (Tree, text) of a structured (dict/list/tuple) output, or None
        self.n_cotangents = len(compiled.program.params) - len(bound)

    def __call__(self, *cotangents):
        if self.tree is not None and len(cotangents) == 1:
            cotangents = self._structured(cotangents[0])
        if len(cotangents) != self.n_cotangents:
            params = self.compiled.program.params[len(self.bound) :]  # the cotangent arguments
            names = ", ".join(p.name for p in params)
            one = " (or one in the output's structure)" if self.tree is not None else ""
            raise InputError(f"the vjp function takes {len(params)} cotangent(s) ({names}){one}, got {len(cotangents)}")
        out = self.compiled(*self.bound, *cotangents)
        return (out,) if self.wrap_single else out

    def _structured(self, ct) -> tuple:
        """One cotangent in the output's structure (as ``jax.vjp``'s function takes it), as one per output leaf.

        A single positional cotangent still works where the output has one leaf:
        one that does not have the output's structure is that leaf's (a tuple or
        list there may be an array, as numpy reads it), but one that has it is
        read along it, as JAX does (``[ct]`` for an output ``[v]`` is ``ct``, not
        a batch of one).
        """
        tree, text = self.tree
        leaves = leaves_as(tree, ct)
        if leaves is None and tree.size == 1 and not isinstance(ct, Mapping):
            return (ct,)
        if leaves is None:
            raise InputError(
                f"the vjp function takes a cotangent with the output's structure {text} "
                f"(or one cotangent per output leaf, as separate arguments), got {describe_value(ct)}"
            )
        return tuple(leaves)


class SparseHessian(NamedTuple):
    """The structurally non-zero unique Hessian entries: ``H[rows[k], cols[k]] == H[cols[k], rows[k]] == values[..., k]``.

    Indices run over the flattened arguments differentiated; ``rows <= cols``.
    """

    values: object  # batch + (nnz,)
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    def todense(self):
        """The full symmetric matrix (batch + (n, n)), for checking or small problems."""
        xp = backends.array_module_of(self.values)
        values = xp.asarray(self.values)
        dense = xp.zeros(values.shape[:-1] + self.shape, dtype=values.dtype)
        dense[..., self.rows, self.cols] = values
        dense[..., self.cols, self.rows] = values
        return dense


class SparseHessianFunction(CompiledWrapper):
    """What ``sg.hessian(f, sparse=True)`` returns: call it for a :class:`SparseHessian`."""

    def __init__(self, compiled: Compiled, rows: np.ndarray, cols: np.ndarray, n: int) -> None:
        super().__init__(compiled)
        self.rows = rows
        self.cols = cols
        self.n = n

    def __call__(self, /, *args, **kwargs) -> SparseHessian:
        values = self.compiled(*args, **kwargs)
        return SparseHessian(values, self.rows, self.cols, (self.n, self.n))
