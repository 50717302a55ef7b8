"""Callables built on a compiled object: a vjp's bound backward function, a sparse Hessian."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backends
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

    def __init__(self, compiled: Compiled, bound: tuple, wrap_single: bool) -> None:
        super().__init__(compiled)
        self.bound = bound
        self.wrap_single = wrap_single

    def __call__(self, *cotangents):
        out = self.compiled(*self.bound, *cotangents)
        return (out,) if self.wrap_single else out


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

    def __call__(self, *args, **kwargs) -> SparseHessian:
        values = self.compiled(*args, **kwargs)
        return SparseHessian(values, self.rows, self.cols, (self.n, self.n))
