"""The JAX-like function layer: trace a Python function, transform its outputs.

Tracing calls the function once with symbolic arguments (a symbol per scalar
argument, an array symbol per argument with a declared shape).  Each
transformation builds new symbolic outputs from the traced ones with
:mod:`symgrad.diff` and compiles them with the same arguments, so
``grad(grad(f))``, ``hessian(compile(f, shapes=...))`` and the like compose.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import numpy as np

from ..diff.forward import jvp_nodes
from ..diff.policy import diff_spec
from ..diff.reverse import derivative_tensor, expand_symmetric, gradient_nodes, vjp_nodes
from ..errors import DiffError, InputError, ShapeError
from ..ir.node import Node
from ..trace.program import Arg, Program, as_value
from ..trace.tracer import Shapes, _normalize_shapes, make_arg, trace
from .compiled import Compiled
from .options import CompileOptions
from .wrappers import BoundFunction, SparseHessianFunction


def program_of(fn, shapes: Shapes = None) -> Program:
    """The program behind ``fn``: traced, or taken from an already compiled object."""
    if isinstance(fn, Compiled):
        if shapes is not None:
            declared = _normalize_shapes(shapes, [a.name for a in fn.args])
            if any(d and d != a.shape for d, a in zip(declared, fn.args)):
                raise ShapeError(f"shapes {shapes} conflict with the compiled function's shapes {fn.shapes}")
        return fn.program
    if not callable(fn):
        raise InputError(f"expected a function, got {type(fn).__name__}")
    return trace(fn, shapes)


# -- helpers over output structures --------------------------------------------------


def _map_leaves(outputs, leaf_fn):
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(_map_leaves(o, leaf_fn) for o in outputs)
    return leaf_fn(np.asarray(outputs, dtype=object))


def _normalize_argnums(argnums, nargs: int) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, (int, np.integer))
    nums = (argnums,) if single else tuple(argnums)
    out = []
    for a in nums:
        if not isinstance(a, (int, np.integer)) or not -nargs <= a < nargs:
            raise InputError(f"argnums {argnums!r} is out of range for a function of {nargs} argument(s)")
        out.append(int(a) % nargs)
    return tuple(out), single


def _split_by_args(flat: Sequence[Node], args: Sequence[Arg]) -> list:
    """Consecutive runs of ``flat``, one per argument, shaped like it."""
    parts, pos = [], 0
    for arg in args:
        parts.append(as_value(flat[pos : pos + len(arg.symbols)], arg.shape))
        pos += len(arg.symbols)
    return parts


def _program_for_call(fn, shapes: Shapes, nargs: int) -> Program:
    """The program of ``fn`` when it is about to be called with ``nargs`` arguments."""
    return program_of(fn, shapes) if isinstance(fn, Compiled) else trace(fn, shapes, nargs)


def _derivative_blocks(leaf: np.ndarray, args: Sequence[Arg], argnums: tuple[int, ...], single: bool, order: int):
    """d^order leaf / d(args)^order, as one array (int argnums) or nested tuples of blocks."""
    variables = [s for i in argnums for s in args[i].symbols]
    n = len(variables)
    full = np.empty(leaf.shape + (n,) * order, dtype=object)
    for idx in np.ndindex(*leaf.shape):
        e = leaf[idx]
        if order == 1:
            entries = gradient_nodes(e, variables)
        elif n == 1:
            entries = [diff_spec(e, [variables[0], order])]
        else:
            entries = expand_symmetric(derivative_tensor(e, variables, order), n, order)
        full[idx] = np.asarray(entries, dtype=object).reshape((n,) * order)
    offsets = np.cumsum([0] + [len(args[i].symbols) for i in argnums])
    lead = (slice(None),) * leaf.ndim

    def block(combo: tuple[int, ...]):
        sl = lead + tuple(slice(offsets[k], offsets[k + 1]) for k in combo)
        shape = leaf.shape + tuple(s for k in combo for s in args[argnums[k]].shape)
        out = full[sl].reshape(shape)
        return out[()] if out.ndim == 0 else out

    def nest(prefix: tuple[int, ...]):
        if len(prefix) == order:
            return block(prefix)
        return tuple(nest(prefix + (k,)) for k in range(len(argnums)))

    return block((0,) * order) if single else nest(())


# -- the transformations ---------------------------------------------------------------


def options_of(what: str, backend, dtype, options: dict) -> CompileOptions:
    """The typed options of one transformation, checked before anything is traced or generated."""
    return CompileOptions.build(what, backend=backend, dtype=dtype, **options)


def compile_function(fn, shapes: Shapes = None, backend: str = "numpy", dtype: str = "float64", **options) -> Compiled:
    """Trace ``fn`` and generate code computing its outputs."""
    opts = options_of("compile", backend, dtype, options)
    return Compiled(program_of(fn, shapes), opts, fn=fn)


def _scalar_output(program: Program, what: str) -> Node:
    out = program.outputs
    if isinstance(out, (tuple, list)):
        raise DiffError(f"{what} needs a function with one scalar output; this one returns a {type(out).__name__}")
    arr = np.asarray(out, dtype=object)
    if arr.shape != ():
        raise DiffError(
            f"{what} needs a scalar output, but the function returns an array of shape {arr.shape}. "
            "Use sg.jacobian for the full matrix of derivatives, or sg.vjp with a cotangent "
            "(e.g. ones, as Q.backward(gradient=ones) does) for a weighted sum of its rows."
        )
    return arr[()]


def _grads(program: Program, argnums, what: str):
    out = _scalar_output(program, what)
    nums, single = _normalize_argnums(argnums, len(program.args))
    variables = [s for i in nums for s in program.args[i].symbols]
    parts = _split_by_args(gradient_nodes(out, variables), [program.args[i] for i in nums])
    return out, (parts[0] if single else tuple(parts))


def grad(fn, argnums=0, shapes: Shapes = None, backend: str = "numpy", dtype: str = "float64", **options) -> Compiled:
    """The gradient of a scalar-valued function with respect to the arguments ``argnums``."""
    opts = options_of("grad", backend, dtype, options)
    program = program_of(fn, shapes)
    _, g = _grads(program, argnums, "grad")
    return Compiled(Program(program.args, g), opts)


def value_and_grad(
    fn, argnums=0, shapes: Shapes = None, backend: str = "numpy", dtype: str = "float64", **options
) -> Compiled:
    """``(value, gradient)`` from one fused kernel."""
    opts = options_of("value_and_grad", backend, dtype, options)
    program = program_of(fn, shapes)
    out, g = _grads(program, argnums, "value_and_grad")
    return Compiled(Program(program.args, (out, g)), opts)


def _tensor_transform(fn, argnums, shapes, opts: CompileOptions, order: int) -> Compiled:
    program = program_of(fn, shapes)
    nums, single = _normalize_argnums(argnums, len(program.args))
    outputs = _map_leaves(program.outputs, lambda leaf: _derivative_blocks(leaf, program.args, nums, single, order))
    return Compiled(Program(program.args, outputs), opts)


def jacobian_function(fn, argnums=0, shapes: Shapes = None, backend="numpy", dtype="float64", **options) -> Compiled:
    """Jacobian: shape ``out_shape + arg_shape`` per output and argument."""
    return _tensor_transform(fn, argnums, shapes, options_of("jacobian", backend, dtype, options), 1)


def hessian_function(
    fn, argnums=0, shapes: Shapes = None, backend="numpy", dtype="float64", sparse: bool = False, **options
):
    """Hessian: shape ``out_shape + arg_shape + arg_shape``; each unique entry built once.

    ``sparse=True`` (scalar functions): only the structurally non-zero unique
    entries (row <= col over the flattened arguments) are computed and returned,
    as a :class:`SparseHessian` -- for large sparse Hessians, where writing the
    dense matrix would dominate the memory traffic.
    """
    opts = options_of("hessian", backend, dtype, options)
    if not sparse:
        return _tensor_transform(fn, argnums, shapes, opts, 2)
    program = program_of(fn, shapes)
    out = _scalar_output(program, "hessian(sparse=True)")
    nums, _ = _normalize_argnums(argnums, len(program.args))
    variables = [s for i in nums for s in program.args[i].symbols]
    entries = sorted(derivative_tensor(out, variables, 2).items())
    rows = np.array([i for (i, _), _ in entries], dtype=np.intp)
    cols = np.array([j for (_, j), _ in entries], dtype=np.intp)
    values = np.array([node for _, node in entries] or [], dtype=object).reshape(len(entries))
    compiled = Compiled(Program(program.args, values), opts)
    return SparseHessianFunction(compiled, rows, cols, len(variables))


MAX_ORDER = 32
"""Highest order of :func:`derivative`: its tensor has an axis per order, and numpy handles at most 32 in
every version (for one variable, ``sg.diff(e, x, k)`` takes any order)."""


def derivative(
    fn, order: int, argnums=0, shapes: Shapes = None, backend="numpy", dtype="float64", **options
) -> Compiled:
    """The ``order``-th derivative tensor: shape ``out_shape + arg_shape * order``."""
    opts = options_of("derivative", backend, dtype, options)
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 0:
        raise InputError(f"order must be a non-negative int, got {order!r}")
    if order > MAX_ORDER:  # the tensor has one axis per order: numpy would fail on its dimension limit
        raise InputError(f"order must be at most {MAX_ORDER} (one array axis per order), got {order!r}")
    if order == 0:
        return Compiled(program_of(fn, shapes), opts, fn=fn)
    return _tensor_transform(fn, argnums, shapes, opts, int(order))


# -- jvp / vjp / hvp ---------------------------------------------------------------------


def _fresh_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _tangent_args(program: Program, suffix: str) -> tuple[Arg, ...]:
    taken = {a.name for a in program.args}
    return tuple(make_arg(_fresh_name(a.name + suffix, taken), a.shape) for a in program.args)


def _as_tuple(x, what: str) -> tuple:
    if not isinstance(x, (tuple, list)):
        raise InputError(f"{what} must be a tuple of arguments (as in JAX), got {type(x).__name__}")
    return tuple(x)


def _jvp_program(program: Program) -> Program:
    tangents = _tangent_args(program, "_dot")
    mapping = {s: t for a, ta in zip(program.args, tangents) for s, t in zip(a.symbols, ta.symbols)}

    def leaf_jvp(leaf: np.ndarray):
        flat = jvp_nodes(list(leaf.reshape(-1)), mapping)
        return as_value(flat, leaf.shape)

    outputs = _map_leaves(program.outputs, leaf_jvp)
    return Program(program.args + tangents, (program.outputs, outputs))


def jvp(fn, primals, tangents, shapes: Shapes = None, backend="numpy", dtype="float64", **options):
    """``(fn(*primals), J @ tangents)`` as in ``jax.jvp``, from one fused kernel."""
    opts = options_of("jvp", backend, dtype, options)
    primals, tangents = _as_tuple(primals, "primals"), _as_tuple(tangents, "tangents")
    if len(primals) != len(tangents):
        raise InputError(f"jvp got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    compiled = _per_function(
        "jvp",
        fn,
        shapes,
        len(primals),
        opts,
        lambda: Compiled(_jvp_program(_program_for_call(fn, shapes, len(primals))), opts),
    )
    return compiled(*primals, *tangents)


def vjp(fn, *primals, shapes: Shapes = None, backend="numpy", dtype="float64", **options):
    """``(fn(*primals), vjp_fn)`` as in ``jax.vjp``; ``vjp_fn(ct)`` gives one cotangent per primal."""
    opts = options_of("vjp", backend, dtype, options)
    value_fn, back, single = _per_function(
        "vjp", fn, shapes, len(primals), opts, lambda: _vjp_build(fn, shapes, len(primals), opts)
    )
    return value_fn(*primals), BoundFunction(back, tuple(primals), wrap_single=single)


def _vjp_build(fn, shapes: Shapes, nargs: int, opts: CompileOptions) -> tuple[Compiled, Compiled, bool]:
    program = _program_for_call(fn, shapes, nargs)
    taken = {a.name for a in program.args}
    leaves: list[np.ndarray] = []
    _map_leaves(program.outputs, leaves.append)
    ct_args = tuple(
        make_arg(_fresh_name("ct" if len(leaves) == 1 else f"ct{i}", taken), leaf.shape)
        for i, leaf in enumerate(leaves)
    )
    seeds = [(node, ct) for leaf, a in zip(leaves, ct_args) for node, ct in zip(leaf.reshape(-1), a.symbols)]
    variables = [s for a in program.args for s in a.symbols]
    parts = _split_by_args(vjp_nodes(seeds, variables), program.args)
    single = len(parts) == 1
    back = Compiled(Program(program.args + ct_args, parts[0] if single else tuple(parts)), opts)
    return Compiled(program, opts), back, single


def hvp(fn, primals, tangents, shapes: Shapes = None, backend="numpy", dtype="float64", **options):
    """Hessian-vector product ``H @ v`` of a scalar function: forward-over-reverse, never forming H."""
    opts = options_of("hvp", backend, dtype, options)
    primals, tangents = _as_tuple(primals, "primals"), _as_tuple(tangents, "tangents")
    if len(primals) != len(tangents):
        raise InputError(f"hvp got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    compiled = _per_function("hvp", fn, shapes, len(primals), opts, lambda: _hvp_build(fn, shapes, len(primals), opts))
    return compiled(*primals, *tangents)


def _hvp_build(fn, shapes: Shapes, nargs: int, opts: CompileOptions) -> Compiled:
    program = _program_for_call(fn, shapes, nargs)
    nums = tuple(range(len(program.args)))
    _, g = _grads(program, nums, "hvp")
    jp = _jvp_program(Program(program.args, g))
    products = jp.outputs[1]
    return Compiled(Program(jp.args, products[0] if len(products) == 1 else products), opts)


# jvp, vjp and hvp are called again and again with new points and vectors (SciPy's ``hessp=``):
# what they compile is kept per function, keyed by everything that shapes the code, as
# jax.jit does.  Entries go when the function does (weak keys).
_PER_FUNCTION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_FUNCTION_LOCK = threading.Lock()


def _frozen(shapes: Shapes):
    """A hashable form of ``shapes`` (dicts and lists of shapes)."""
    if isinstance(shapes, dict):
        return tuple(sorted(((repr(k), _frozen(v)) for k, v in shapes.items())))
    if isinstance(shapes, (list, tuple)):
        return tuple(_frozen(s) for s in shapes)
    return shapes if isinstance(shapes, (int, type(None))) else repr(shapes)


def _per_function(kind: str, fn, shapes: Shapes, nargs: int, opts: CompileOptions, build):
    """``build()``'s result, built once per (function, kind, shapes, argument count, options)."""
    try:
        key = (kind, _frozen(shapes), nargs, opts)
        with _PER_FUNCTION_LOCK:
            cached = _PER_FUNCTION.setdefault(fn, {}).get(key)
    except TypeError:  # a function that cannot be weakly referenced: build every time
        return build()
    if cached is None:
        cached = build()
        with _PER_FUNCTION_LOCK:
            _PER_FUNCTION.setdefault(fn, {})[key] = cached
    return cached
