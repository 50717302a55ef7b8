"""``sg.vmap``: a compiled function mapped over one axis of its arguments, as ``jax.vmap``.

Compiled functions already evaluate over a leading batch (``batch + arg_shape``
per argument), so mapping needs no new code: each mapped argument's axis moves
to the front, the compiled function runs once over that batch, and each
output's batch axis moves to ``out_axes``.  An argument with axis None is not
mapped: it keeps its declared (per-example) shape and is shared by every example;
an output with axis None is not mapped either (it must not depend on a mapped
argument, as in JAX): every example's value is the same, given once.
Inside another trace (``sg.grad`` of a loss that sums a vmapped function, a vmap of
a vmap) the same moves are made on the symbolic arrays, and the compiled function
composes over that batch.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import backends
from ..errors import AxisError, InputError, ShapeError
from ..ir.array import symbolic_array
from ..ir.node import Node, free_symbols
from ..tracing.functions import is_symbolic
from ..tracing.program import Program, leaf_elements
from ..tracing.pytree import broadcast_prefix, check_structure, describe, flatten, unflatten
from ..tracing.tracer import Shapes
from .arguments import bind, is_pytree_value, undeclared_pytree
from .compiled import Compiled
from .dataset import DatasetCompiled
from .transforms import compile_function, program_of
from .wrappers import CompiledWrapper


def _is_axis(a) -> bool:
    return a is None or (isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)))


class Mapped(CompiledWrapper):
    """What :func:`vmap` returns: call it like the function, with the mapped axes added to the arguments."""

    def __init__(self, compiled: Compiled, in_axes, out_axes, axis_size=None) -> None:
        super().__init__(compiled)
        program = compiled.program
        if not (_is_axis(in_axes) or isinstance(in_axes, (tuple, list))):
            raise InputError(
                f"vmap: in_axes must be an int, None, or a tuple with one entry per argument, got {in_axes!r}"
            )
        if isinstance(in_axes, (tuple, list)) and len(in_axes) != len(program.params):
            names = ", ".join(p.name for p in program.params)
            raise InputError(
                f"vmap: in_axes has {len(in_axes)} entries, but the function takes "
                f"{len(program.params)} argument(s) ({names})"
            )
        per_arg = list(in_axes) if isinstance(in_axes, (tuple, list)) else [in_axes] * len(program.params)
        self.axes = [_leaf_axes(program, i, a) for i, a in enumerate(per_arg)]
        if axis_size is not None and (not _is_axis(axis_size) or axis_size < 0):
            raise InputError(f"vmap: axis_size must be a non-negative int or None, got {axis_size!r}")
        if axis_size is None and all(a is None for axes in self.axes for a in axes):
            raise InputError("vmap needs at least one mapped argument, or axis_size, but every in_axes entry is None")
        self.axis_size = axis_size
        self.in_axes = in_axes
        self.out_axes = out_axes
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD  # the function's own argument names, for tracing and help()
        self.__signature__ = inspect.Signature([inspect.Parameter(p.name, kind) for p in program.params])

    def __call__(self, /, *args, **kwargs):
        program = self.compiled.program
        values = bind(program, args, kwargs)
        moved, sizes = [], []
        for i, (p, value) in enumerate(zip(program.params, values)):
            if p.tree.is_leaf:
                if is_pytree_value(value):
                    raise undeclared_pytree(p.name)
                leaves = [value]
            else:
                leaves = check_structure(p.tree, value, f"argument {p.name!r}", program.structure_text(i))
            arrays = [
                _move_in(program.args[p.start + k], leaf, ax, sizes)
                for k, (leaf, ax) in enumerate(zip(leaves, self.axes[i]))
            ]
            moved.append(unflatten(p.tree, arrays))
        given = [("axis_size", self.axis_size)] if self.axis_size is not None and sizes else []
        if len({n for _, n in given + sizes}) > 1:
            detail = ", ".join(f"{name}: {n}" for name, n in given + sizes)
            raise InputError(f"vmap got mapped axes of different sizes ({detail})")
        # nothing mapped (axis_size given): the outputs have no batch axis, every example's are the same
        unbatched = self.axis_size if not sizes else None
        return _move_out(self.compiled(*moved), self.out_axes, lambda: self.varies, unbatched)

    @functools.cached_property
    def varies(self) -> list[bool]:
        """Whether each output leaf depends on a mapped argument: out_axes None is for one that does not."""
        program = self.compiled.program
        mapped = {
            s
            for p, axes in zip(program.params, self.axes)
            for k, ax in enumerate(axes)
            if ax is not None
            for s in program.args[p.start + k].symbols
        }
        leaves, _ = flatten(program.outputs)
        return [
            any(s in mapped for s in free_symbols(n for n in leaf_elements([leaf]) if isinstance(n, Node)))
            for leaf in leaves
        ]


def _leaf_axes(program: Program, i: int, spec) -> list:
    """The mapped axis (or None) of each leaf of argument ``i``, from its in_axes entry (a prefix of its structure)."""
    p = program.params[i]
    axes = broadcast_prefix(spec, p.tree, _is_axis) if not p.tree.is_leaf or _is_axis(spec) else None
    if axes is None:
        raise InputError(
            f"vmap: in_axes for argument {p.name!r} is {spec!r}, which does not match its structure "
            f"{program.structure_text(i)}"
        )
    for a in axes:
        if not _is_axis(a):
            raise InputError(f"vmap: in_axes for argument {p.name!r} must be ints or None, got {a!r}")
    return axes


def _move_in(arg, value, axis, sizes: list):
    """One leaf argument with its mapped axis moved to the front (the compiled function's batch)."""
    declared = len(arg.shape)
    # inside another trace (sg.grad of a vmapped loss, a vmap of a vmap) the axes move on the symbolic array:
    # the compiled function composes over that batch as it evaluates over a numeric one
    symbolic = is_symbolic(value)
    xp = np if symbolic else backends.array_module_of(value)
    try:
        arr = symbolic_array(np.asarray(value, dtype=object)) if symbolic else xp.asarray(value)
    except (ValueError, TypeError) as exc:  # a ragged nested list, or an object numpy cannot read
        raise InputError(f"argument {arg.name!r} is not a numeric array (ragged or unreadable: {exc})") from None
    if axis is None:
        if arr.ndim != declared:
            raise ShapeError(
                f"argument {arg.name!r} is not mapped (in_axes None), so it must have its declared shape "
                f"{arg.shape}, got shape {arr.shape}"
            )
        return value
    if arr.ndim != declared + 1:
        raise ShapeError(
            f"argument {arg.name!r} is mapped over axis {axis}, so it must have {declared + 1} dimension(s) "
            f"(its declared shape {arg.shape} plus the mapped axis), got shape {arr.shape}"
        )
    if not -arr.ndim <= axis < arr.ndim:
        raise AxisError(f"vmap: in_axes {axis} is out of range for argument {arg.name!r} of shape {arr.shape}")
    sizes.append((arg.name, arr.shape[axis]))
    return xp.moveaxis(arr, int(axis), 0)


def _move_out(result, out_axes, varies, unbatched=None):
    """Each output leaf's batch axis (the first) moved to its entry of ``out_axes``, or dropped where that is None.

    ``varies()``: whether each output leaf depends on a mapped argument;
    ``unbatched``: the batch size of outputs computed without a batch axis (no argument mapped), else None.
    """
    leaves, tree = flatten(result)
    axes = broadcast_prefix(out_axes, tree, _is_axis) if not tree.is_leaf or _is_axis(out_axes) else None
    if axes is None:
        shapes = describe(tree, [repr(np.shape(v)) for v in leaves])
        raise InputError(f"vmap: out_axes {out_axes!r} does not match the output structure {shapes}")
    out = []
    for k, (leaf, axis) in enumerate(zip(leaves, axes)):
        if not _is_axis(axis):
            raise InputError(f"vmap: out_axes must be ints or None, got {axis!r}")
        symbolic = is_symbolic(leaf)
        arr = (
            symbolic_array(np.asarray(leaf, dtype=object)) if symbolic else backends.array_module_of(leaf).asarray(leaf)
        )
        if axis is None and unbatched is not None:
            out.append(arr)
            continue
        if unbatched is not None:
            xp = np if symbolic else backends.array_module_of(arr)
            arr = xp.repeat(arr[None], unbatched, axis=0)  # a copy, writable as a computed output is
        if axis is None:
            if varies()[k]:
                raise InputError(
                    f"vmap: out_axes None is for an output that is not mapped, but output {k} (of shape "
                    f"{arr.shape[1:]} per example) depends on a mapped argument"
                )
            if arr.shape[0] == 0:
                raise ShapeError("vmap: an output with out_axes None has no value over a mapped axis of size 0")
            out.append(arr[0])  # the same for every example
            continue
        if not -arr.ndim <= axis < arr.ndim:
            raise AxisError(f"vmap: out_axes {axis} is out of range for an output of shape {arr.shape}")
        out.append((np if symbolic else backends.array_module_of(arr)).moveaxis(arr, 0, int(axis)))
    return unflatten(tree, out)


def vmap(
    fn,
    in_axes=0,
    out_axes=0,
    shapes: Shapes = None,
    backend: str | None = None,
    dtype: str | None = None,
    axis_size: int | None = None,
    **options,
):
    """``fn`` mapped over axis ``in_axes`` of each argument (None: not mapped), results stacked at ``out_axes``.

    ``in_axes``: an int or None for every argument, or a tuple with one entry
    per argument, each an int, None, or a dict/list/tuple matching that
    (pytree) argument.  ``out_axes``: an int, or a structure matching the
    outputs; None for an output that depends on no mapped argument (given
    once, not stacked).  ``axis_size``: the mapped axes' size, which they must
    have; with every ``in_axes`` None, the outputs are stacked that many times.
    Declared ``shapes=`` are the per-example shapes.  ``fn`` may be
    a compiled function (``sg.vmap(sg.grad(f))``) or a Python function,
    compiled here with ``shapes``, ``backend``, ``dtype`` and the other options.
    """
    if isinstance(fn, Compiled) and backend is None and dtype is None and not options:
        program_of(fn, shapes)  # declared shapes must agree with the compiled ones
        compiled = fn
    else:
        compiled = compile_function(fn, shapes, backend or "numpy", dtype or "float64", **options)
    if isinstance(compiled, DatasetCompiled):  # the sample axis of its data is reduced: mapping would misread it
        raise InputError(
            "vmap of a function over a dataset (data=) is not supported: its data arguments' sample axis is "
            "reduced, not mapped; vmap the per-sample function (compiled without data=) and reduce its results, "
            "or call the function over the dataset once per parameter value"
        )
    return Mapped(compiled, in_axes, out_axes, axis_size)
