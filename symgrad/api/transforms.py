"""The JAX-like function layer: trace a Python function, transform its outputs.

Tracing calls the function once with symbolic arguments (a symbol per scalar
argument, an array symbol per argument with a declared shape, a pytree of those
for a dict / list / tuple argument declared in its structure).  Each
transformation builds new symbolic outputs from the traced ones with
:mod:`symgrad.diff` and compiles them with the same arguments, so
``grad(grad(f))``, ``hessian(compile(f, shapes=...))`` and the like compose.
Derivatives come back in the structure of the arguments they are taken with
respect to, and of the outputs, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from ..diff.policy import diff_spec
from ..diff.reverse import ZERO, derivative_tensor, fill_symmetric, gradient_nodes
from ..errors import DiffError, InputError, ShapeError
from ..ir.node import Node
from ..limits import gc_paused
from ..tracing.program import Arg, Program, as_value
from ..tracing.pytree import flatten, unflatten
from ..tracing.tracer import Shapes, _normalize_shapes, trace
from .compiled import Compiled
from .dataset import DataArgs, DatasetCompiled, compiled_for, dataset_spec
from .options import CompileOptions
from .taped import taped_gradient
from .wrappers import BoundFunction, SparseHessianFunction


def program_of(fn, shapes: Shapes = None) -> Program:
    """The program behind ``fn``: traced, or taken from an already compiled object."""
    if isinstance(fn, Compiled):
        if shapes is not None:
            program = fn.program
            declared = _normalize_shapes(shapes, [p.name for p in program.params])
            for i, d in enumerate(declared):  # as pytrees of shapes: dicts match by key, in any order
                if d.declared and unflatten(d.tree, d.shapes) != program.spec(i):
                    raise ShapeError(f"shapes {shapes} conflict with the compiled function's shapes {fn.shapes}")
        return fn.program
    if isinstance(fn, (BoundFunction, SparseHessianFunction)):  # compiled code with no signature to trace
        raise InputError(
            f"cannot transform a {type(fn).__name__} (a function symgrad built on compiled code, as "
            "sg.hessian(..., sparse=True) and sg.vjp return): call it on the batch directly (arguments of shape "
            "batch + arg_shape are evaluated over the batch), or transform the function it was built from"
        )
    if not callable(fn):
        raise InputError(f"expected a function, got {type(fn).__name__}")
    return trace(fn, shapes)


# -- helpers over output structures --------------------------------------------------


def _map_leaves(outputs, leaf_fn):
    """``leaf_fn`` of each output leaf (as an object array), in the outputs' dict/list/tuple structure."""
    leaves, tree = flatten(outputs)
    return unflatten(tree, [leaf_fn(np.asarray(leaf, dtype=object)) for leaf in leaves])


def _normalize_argnums(argnums, nargs: int) -> tuple[tuple[int, ...], bool]:
    def is_index(a) -> bool:
        return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))

    single = is_index(argnums)
    if not single and not (isinstance(argnums, (tuple, list)) and argnums and all(map(is_index, argnums))):
        raise InputError(f"argnums must be an int or a non-empty tuple of ints (as in JAX), got {argnums!r}")
    nums = (argnums,) if single else tuple(argnums)
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise InputError(f"argnums {argnums!r} is out of range for a function of {nargs} argument(s)")
        out.append(int(a) % nargs)
    return tuple(out), single


def _wrt_leaves(program: Program, nums: Sequence[int]) -> list[Arg]:
    """The leaf arguments of the arguments ``nums``, in order: what a derivative is taken with respect to."""
    return [a for i in nums for a in program.leaves(i)]


def _wrt_symbols(program: Program, nums: Sequence[int]) -> list[Node]:
    """The scalar symbols of those leaf arguments, flat: the variables of one reverse sweep."""
    return [s for a in _wrt_leaves(program, nums) for s in a.symbols]


def _by_argument(values: Sequence, program: Program, nums: Sequence[int], single: bool):
    """One value per leaf of the arguments ``nums`` regrouped per argument, each in its structure (JAX's layout)."""
    parts, pos = [], 0
    for i in nums:
        p = program.params[i]
        parts.append(unflatten(p.tree, values[pos : pos + p.tree.size]))
        pos += p.tree.size
    return parts[0] if single else tuple(parts)


def _split_by_args(flat: Sequence[Node], program: Program, nums: Sequence[int], single: bool):
    """Consecutive runs of ``flat``, one per leaf of the arguments ``nums``, shaped like it and grouped per argument."""
    values, pos = [], 0
    for arg in _wrt_leaves(program, nums):
        values.append(as_value(flat[pos : pos + len(arg.symbols)], arg.shape))
        pos += len(arg.symbols)
    return _by_argument(values, program, nums, single)


def _program_for_call(fn, shapes: Shapes, nargs: int) -> Program:
    """The program of ``fn`` when it is about to be called with ``nargs`` arguments."""
    if isinstance(fn, DatasetCompiled):  # its products would silently be per sample
        raise InputError(
            "jvp, vjp and hvp of a function over a dataset (data=) are not supported; differentiate it with "
            "sg.grad, sg.jacobian or sg.hessian, which keep data= and reduce over the samples"
        )
    if not isinstance(fn, Compiled):
        return trace(fn, shapes, nargs)  # checks the count against the signature
    program = program_of(fn, shapes)
    if nargs != len(program.params):  # else the product's own call miscounts, naming the tangent arguments
        names = ", ".join(p.name for p in program.params)
        raise InputError(f"the function takes {len(program.params)} positional argument(s) ({names}), got {nargs}")
    return program


def _compiled(fn, program: Program, opts: CompileOptions, data, reduce, what: str, argnums=None, source=None):
    """The compiled object of a transformation: reduced over the samples of ``data=`` (or ``fn``'s) if any.

    ``argnums``: what was differentiated (never a data argument); ``source``:
    the function kept as ``.fn``.
    """
    wrt = () if argnums is None else _normalize_argnums(argnums, len(program.params))[0]
    spec = dataset_spec(fn, program, data, reduce, what)
    return compiled_for(program, opts, spec, fn=source, wrt=wrt, what=what)


def _derivative_blocks(leaf: np.ndarray, program: Program, argnums: tuple[int, ...], single: bool, order: int):
    """d^order leaf / d(args)^order: one array per combination of leaf arguments, nested per argument and structure.

    For an int ``argnums`` and a plain argument that is one array; otherwise, as
    in JAX, the first derivative's axis is the outermost structure.
    """
    args = _wrt_leaves(program, argnums)
    variables = [s for a in args for s in a.symbols]
    n = len(variables)
    full = np.full(leaf.shape + (n,) * order, ZERO, dtype=object)
    for idx in np.ndindex(*leaf.shape):
        e = leaf[idx]
        if order == 1:
            entries = gradient_nodes(e, variables)
        elif n == 1:
            entries = [diff_spec(e, [variables[0], order])]
        else:  # written in place, the computed entries only: the rest of a big Hessian stays ZERO
            fill_symmetric(full[idx], derivative_tensor(e, variables, order))
            continue
        full[idx] = np.asarray(entries, dtype=object).reshape((n,) * order)
    offsets = np.cumsum([0] + [len(a.symbols) for a in args])
    lead = (slice(None),) * leaf.ndim

    def block(combo: tuple[int, ...]):
        sl = lead + tuple(slice(offsets[k], offsets[k + 1]) for k in combo)
        shape = leaf.shape + tuple(s for k in combo for s in args[k].shape)
        out = full[sl].reshape(shape)
        return out[()] if out.ndim == 0 else out

    def nest(prefix: tuple[int, ...]):
        if len(prefix) == order:
            return block(prefix)
        return _by_argument([nest(prefix + (k,)) for k in range(len(args))], program, argnums, single)

    return nest(())


# -- the transformations ---------------------------------------------------------------


def options_of(what: str, backend, dtype, options: dict) -> CompileOptions:
    """The typed options of one transformation, checked before anything is traced or generated."""
    return CompileOptions.build(what, backend=backend, dtype=dtype, **options)


def compile_function(
    fn,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """Trace ``fn`` and generate code computing its outputs (their mean or sum over the samples of ``data``)."""
    opts = options_of("compile", backend, dtype, options)
    return _compiled(fn, program_of(fn, shapes), opts, data, reduce, "compile", source=fn)


def _scalar_output(out, what: str) -> Node:
    if out is None or isinstance(out, (tuple, list, dict)):
        got = "None" if out is None else f"a {type(out).__name__}"
        raise DiffError(f"{what} needs a function with one scalar output; this one returns {got}")
    arr = np.asarray(out, dtype=object)
    if arr.shape != ():
        raise DiffError(
            f"{what} needs a scalar output, but the function returns an array of shape {arr.shape}. "
            "Use sg.jacobian for the full matrix of derivatives, or sg.vjp with a cotangent "
            "(e.g. ones, as Q.backward(gradient=ones) does) for a weighted sum of its rows."
        )
    return arr[()]


def _check_has_aux(has_aux, what: str) -> bool:
    if not isinstance(has_aux, (bool, np.bool_)):
        raise InputError(f"{what}: has_aux must be True or False, got {has_aux!r}")
    return bool(has_aux)


def _split_aux(program: Program, has_aux, what: str):
    """``(output, aux)``: with ``has_aux`` the function returns that pair (JAX's convention), else aux is None."""
    out = program.outputs
    if not _check_has_aux(has_aux, what):
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        got = f"a {type(out).__name__} of {len(out)}" if isinstance(out, (tuple, list)) else "one value"
        raise InputError(f"{what}(has_aux=True) needs a function returning a pair (output, aux); it returns {got}")
    return out[0], out[1]


def _grads(program: Program, argnums, what: str, has_aux: bool = False):
    """The scalar output, its gradient in the arguments' structure, and the aux outputs (None without has_aux)."""
    out, aux = _split_aux(program, has_aux, what)
    node = _scalar_output(out, what)
    nums, single = _normalize_argnums(argnums, len(program.params))
    variables = _wrt_symbols(program, nums)
    return node, _split_by_args(gradient_nodes(node, variables), program, nums, single), aux


def _taped(fn, program: Program, argnums, has_aux, data, reduce, opts: CompileOptions, what: str):
    """``grad``'s or ``value_and_grad``'s object by reverse mode on the tape (a huge graph: symgrad.api.taped), or None."""
    if has_aux is not False or data is not None or reduce is not None or isinstance(fn, DatasetCompiled):
        return None
    node = _scalar_output(program.outputs, what)
    nums, single = _normalize_argnums(argnums, len(program.params))
    split = functools.partial(_split_by_args, program=program, nums=nums, single=single)
    if what == "grad":
        arrange = lambda value, entries: split(entries)
    else:
        arrange = lambda value, entries: (value, split(entries))
    return taped_gradient(program, node, _wrt_symbols(program, nums), arrange, opts, what == "value_and_grad")


def grad(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    has_aux: bool = False,
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """The gradient of a scalar-valued function with respect to the arguments ``argnums``.

    Shaped like those arguments (a dict argument gives a dict); with
    ``has_aux=True`` the function returns ``(output, aux)`` and this gives
    ``(gradient, aux)``, aux computed in the same kernel and not differentiated.
    With ``data=`` (per-sample arguments) and ``reduce=`` ("mean" or "sum"), or
    a compiled ``fn`` that has them: the gradient of the mean (sum) over the
    samples, in one pass (aux is reduced too).
    """
    opts = options_of("grad", backend, dtype, options)
    program = program_of(fn, shapes)
    taped = _taped(fn, program, argnums, has_aux, data, reduce, opts, "grad")
    if taped is not None:
        return taped
    _, g, aux = _grads(program, argnums, "grad", has_aux)
    return _compiled(fn, program.with_outputs((g, aux) if has_aux else g), opts, data, reduce, "grad", argnums)


def value_and_grad(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    has_aux: bool = False,
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """``(value, gradient)`` from one fused kernel; ``((value, aux), gradient)`` with ``has_aux=True``, as in JAX.

    With ``data=``: the mean (sum) loss over the samples and its gradient, from the same pass.
    """
    opts = options_of("value_and_grad", backend, dtype, options)
    program = program_of(fn, shapes)
    taped = _taped(fn, program, argnums, has_aux, data, reduce, opts, "value_and_grad")
    if taped is not None:
        return taped
    out, g, aux = _grads(program, argnums, "value_and_grad", has_aux)
    outputs = ((out, aux), g) if has_aux else (out, g)
    return _compiled(fn, program.with_outputs(outputs), opts, data, reduce, "value_and_grad", argnums)


def _tensor_transform(
    fn,
    argnums,
    shapes,
    opts: CompileOptions,
    order: int,
    has_aux: bool = False,
    what="",
    data: DataArgs = None,
    reduce: str | None = None,
) -> Compiled:
    with gc_paused():  # one pause from tracing to code: the stages' own pauses leave gaps a collection fills
        program = program_of(fn, shapes)
        out, aux = _split_aux(program, has_aux, what)
        nums, single = _normalize_argnums(argnums, len(program.params))
        outputs = _map_leaves(out, lambda leaf: _derivative_blocks(leaf, program, nums, single, order))
        outputs = (outputs, aux) if has_aux else outputs
        return _compiled(fn, program.with_outputs(outputs), opts, data, reduce, what, nums)


def jacobian_function(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend="numpy",
    dtype="float64",
    has_aux: bool = False,
    *,
    data: DataArgs = None,
    reduce: str | None = None,
    _what="jacobian",
    **options,
) -> Compiled:
    """Jacobian: shape ``out_shape + arg_shape`` per output and argument (dicts of them for dict outputs or arguments).

    ``has_aux=True``: the function returns ``(output, aux)`` and this gives ``(jacobian, aux)``.
    ``data=``/``reduce=``: the Jacobian of the mean (sum) over the samples.
    """
    opts = options_of(_what, backend, dtype, options)
    return _tensor_transform(fn, argnums, shapes, opts, 1, has_aux, _what, data, reduce)


def jacfwd(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    has_aux: bool = False,
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """JAX's name for the Jacobian (forward mode there): the same as :func:`jacrev` and ``sg.jacobian`` here.

    symgrad differentiates the traced graph symbolically and the kernel computes
    each distinct subexpression once, so there is no forward/reverse mode to
    choose: both names give the same (cheapest it knows) kernel.
    """
    kw = {"data": data, "reduce": reduce, "_what": "jacfwd"}
    return jacobian_function(fn, argnums, shapes, backend, dtype, has_aux, **kw, **options)


def jacrev(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    has_aux: bool = False,
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """JAX's name for the Jacobian (reverse mode there): the same as :func:`jacfwd` and ``sg.jacobian`` here."""
    kw = {"data": data, "reduce": reduce, "_what": "jacrev"}
    return jacobian_function(fn, argnums, shapes, backend, dtype, has_aux, **kw, **options)


def hessian_function(
    fn,
    argnums=0,
    shapes: Shapes = None,
    backend="numpy",
    dtype="float64",
    sparse: bool = False,
    has_aux: bool = False,
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
):
    """Hessian: shape ``out_shape + arg_shape + arg_shape``; each unique entry built once.

    ``sparse=True`` (scalar functions): only the structurally non-zero unique
    entries (row <= col over the flattened arguments) are computed and returned,
    as a :class:`SparseHessian` -- for large sparse Hessians, where writing the
    dense matrix would dominate the memory traffic.  ``has_aux=True`` (dense):
    ``(hessian, aux)``, as in JAX.  ``data=``/``reduce=``: the Hessian of the
    mean (sum) over the samples.
    """
    opts = options_of("hessian", backend, dtype, options)
    if not sparse:
        return _tensor_transform(fn, argnums, shapes, opts, 2, has_aux, "hessian", data, reduce)
    if has_aux:
        raise InputError("hessian(sparse=True) does not take has_aux=True; compute aux with sg.compile")
    with gc_paused():  # as _tensor_transform
        program = program_of(fn, shapes)
        out = _scalar_output(program.outputs, "hessian(sparse=True)")
        nums, _ = _normalize_argnums(argnums, len(program.params))
        variables = _wrt_symbols(program, nums)
        entries = sorted(derivative_tensor(out, variables, 2).items())
        rows = np.array([i for (i, _), _ in entries], dtype=np.intp)
        cols = np.array([j for (_, j), _ in entries], dtype=np.intp)
        values = np.array([node for _, node in entries] or [], dtype=object).reshape(len(entries))
        compiled = _compiled(fn, program.with_outputs(values), opts, data, reduce, "hessian", nums)
        return SparseHessianFunction(compiled, rows, cols, len(variables))


def jit(
    fn: Callable | None = None,
    /,
    *,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled | Callable[[Callable], Compiled]:
    """JAX's name for compiling a function: ``sg.compile(fn, ...)``; also a decorator, bare or with options.

    ``@sg.jit`` and ``@sg.jit(backend="c", shapes=...)`` both work; options are
    checked when the decorator is made.
    """
    options_of("jit", backend, dtype, options)
    if fn is None:
        return functools.partial(jit, shapes=shapes, backend=backend, dtype=dtype, data=data, reduce=reduce, **options)
    compiled = compile_function(fn, shapes, backend, dtype, data, reduce, **options)
    if not isinstance(fn, Compiled):
        functools.update_wrapper(compiled, fn, updated=())  # the decorated function's name and docstring
    return compiled


MAX_ORDER = 32
"""Highest order of :func:`derivative`: its tensor has an axis per order, and numpy handles at most 32 in
every version (for one variable, ``sg.diff(e, x, k)`` takes any order)."""


def derivative(
    fn,
    order: int,
    argnums=0,
    shapes: Shapes = None,
    backend="numpy",
    dtype="float64",
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """The ``order``-th derivative tensor: shape ``out_shape + arg_shape * order`` (with ``data=``: of the mean)."""
    opts = options_of("derivative", backend, dtype, options)
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 0:
        raise InputError(f"order must be a non-negative int, got {order!r}")
    if order > MAX_ORDER:  # the tensor has one axis per order: numpy would fail on its dimension limit
        raise InputError(f"order must be at most {MAX_ORDER} (one array axis per order), got {order!r}")
    if order == 0:
        return _compiled(fn, program_of(fn, shapes), opts, data, reduce, "derivative", source=fn)
    return _tensor_transform(fn, argnums, shapes, opts, int(order), what="derivative", data=data, reduce=reduce)
