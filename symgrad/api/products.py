"""Products with derivatives, as ``jax.jvp``, ``jax.vjp`` and a Hessian-vector product: ``J @ v``, ``ct @ J``, ``H v``.

Each is built from the traced program like the other transformations
(:mod:`symgrad.api.transforms`), with one more argument per tangent or
cotangent.  As ``jax.jvp`` does, each call traces the function again, so a value
it closes over that has changed since the last call is seen; the code built from
a trace is kept per function and reused while the function traces to the same
graph (hash-consed, so that is the same output nodes): these are called again
and again with new points and vectors (SciPy's ``hessp=``), and a new vector
reuses the kernel.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..diff.forward import jvp_nodes
from ..diff.reverse import vjp_nodes
from ..errors import InputError
from ..tracing.program import Program, as_value, leaf_elements
from ..tracing.pytree import LEAF, Tree, describe, flatten
from ..tracing.tracer import ArgSpec, Shapes, make_params
from .compiled import Compiled
from .options import CompileOptions
from .transforms import _check_has_aux, _grads, _map_leaves, _program_for_call, _split_aux, _split_by_args, options_of
from .wrappers import BoundFunction


def _fresh_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _tangent_program(program: Program, suffix: str) -> Program:
    """``program`` with one more argument per argument (same structure and shapes, named ``x`` + suffix)."""
    taken = {p.name for p in program.params}
    names = [_fresh_name(p.name + suffix, taken) for p in program.params]
    specs = [ArgSpec(p.tree, tuple(a.shape for a in program.leaves(i))) for i, p in enumerate(program.params)]
    args, params = make_params(names, specs, start=len(program.args))
    return Program(program.args + args, program.outputs, program.params + params, program.sources)


def _as_tuple(x, what: str) -> tuple:
    if not isinstance(x, (tuple, list)):
        raise InputError(f"{what} must be a tuple of arguments (as in JAX), got {type(x).__name__}")
    return tuple(x)


def _jvp_program(program: Program) -> Program:
    extended = _tangent_program(program, "_dot")
    tangents = extended.args[len(program.args) :]
    mapping = {s: t for a, ta in zip(program.args, tangents) for s, t in zip(a.symbols, ta.symbols)}

    def leaf_jvp(leaf: np.ndarray):
        flat = jvp_nodes(list(leaf.reshape(-1)), mapping)
        return as_value(flat, leaf.shape)

    outputs = _map_leaves(program.outputs, leaf_jvp)
    return extended.with_outputs((program.outputs, outputs))


def jvp(fn, primals, tangents, shapes: Shapes = None, backend="numpy", dtype="float64", has_aux=False, **options):
    """``(fn(*primals), J @ tangents)`` as in ``jax.jvp``, from one fused kernel.

    ``has_aux=True``: ``fn`` returns ``(output, aux)`` and this gives ``(output, J @ tangents, aux)``, as in JAX.
    """
    opts = options_of("jvp", backend, dtype, options)
    has_aux = _check_has_aux(has_aux, "jvp")  # before the cache: its key holds it
    primals, tangents = _as_tuple(primals, "primals"), _as_tuple(tangents, "tangents")
    if len(primals) != len(tangents):
        raise InputError(f"jvp got {len(primals)} primal(s) but {len(tangents)} tangent(s)")

    def build(program: Program) -> Compiled:
        out, aux = _split_aux(program, has_aux, "jvp")
        jp = _jvp_program(program.with_outputs(out))
        return Compiled(jp.with_outputs((*jp.outputs, aux)) if has_aux else jp, opts)

    compiled = _per_function(("jvp", has_aux), fn, shapes, len(primals), opts, build)
    return compiled(*primals, *tangents)


def vjp(fn, *primals, shapes: Shapes = None, backend="numpy", dtype="float64", has_aux=False, **options):
    """``(fn(*primals), vjp_fn)`` as in ``jax.vjp``; ``vjp_fn(ct)`` gives one cotangent per primal.

    ``has_aux=True``: ``fn`` returns ``(output, aux)`` and this gives ``(output, vjp_fn, aux)``, as in JAX.
    """
    opts = options_of("vjp", backend, dtype, options)
    has_aux = _check_has_aux(has_aux, "vjp")  # before the cache: its key holds it
    value_fn, back, single, ct_tree = _per_function(
        ("vjp", has_aux), fn, shapes, len(primals), opts, lambda program: _vjp_build(program, opts, has_aux)
    )
    back_fn = BoundFunction(back, tuple(primals), wrap_single=single, tree=ct_tree)
    if not has_aux:
        return value_fn(*primals), back_fn
    out, aux = value_fn(*primals)
    return out, back_fn, aux


def _vjp_build(
    program: Program, opts: CompileOptions, has_aux=False
) -> tuple[Compiled, Compiled, bool, tuple[Tree, str] | None]:
    taken = {p.name for p in program.params}
    out, _ = _split_aux(program, has_aux, "vjp")
    raw, tree = flatten(out)  # one cotangent argument per output leaf, in flattening order
    leaves = [np.asarray(leaf, dtype=object) for leaf in raw]
    # a dict/list/tuple output: its vjp function also takes one cotangent in that structure, as jax.vjp's does
    ct_tree = None if tree.is_leaf else (tree, describe(tree, [repr(leaf.shape) for leaf in leaves]))
    names = [_fresh_name("ct" if len(leaves) == 1 else f"ct{i}", taken) for i in range(len(leaves))]
    ct_args, ct_params = make_params(names, [ArgSpec(LEAF, (leaf.shape,)) for leaf in leaves], len(program.args))
    seeds = [(node, ct) for leaf, a in zip(leaves, ct_args) for node, ct in zip(leaf.reshape(-1), a.symbols)]
    variables = [s for a in program.args for s in a.symbols]
    nums = tuple(range(len(program.params)))
    single = len(nums) == 1
    cotangents = _split_by_args(vjp_nodes(seeds, variables), program, nums, single)
    back = Compiled(
        Program(program.args + ct_args, cotangents, program.params + ct_params, program.derived_sources), opts
    )
    return Compiled(program, opts), back, single, ct_tree


def hvp(fn, primals, tangents, shapes: Shapes = None, backend="numpy", dtype="float64", **options):
    """Hessian-vector product ``H @ v`` of a scalar function: forward-over-reverse, never forming H."""
    opts = options_of("hvp", backend, dtype, options)
    primals, tangents = _as_tuple(primals, "primals"), _as_tuple(tangents, "tangents")
    if len(primals) != len(tangents):
        raise InputError(f"hvp got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    compiled = _per_function("hvp", fn, shapes, len(primals), opts, lambda program: _hvp_build(program, opts))
    return compiled(*primals, *tangents)


def _hvp_build(program: Program, opts: CompileOptions) -> Compiled:
    nums = tuple(range(len(program.params)))
    _, g, _ = _grads(program, nums, "hvp")
    jp = _jvp_program(program.with_outputs(g))
    products = jp.outputs[1]
    return Compiled(jp.with_outputs(products[0] if len(products) == 1 else products), opts)


# jvp, vjp and hvp are called again and again with new points and vectors (SciPy's ``hessp=``):
# what they compile is kept per function, keyed by everything that shapes the code, with the
# graph it was built from (the last one only: a closed-over value that changes at every call
# rebuilds, it does not pile up).  Entries go when the function does (weak keys).
_PER_FUNCTION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_FUNCTION_LOCK = threading.Lock()


def _frozen(shapes: Shapes):
    """A hashable form of ``shapes`` (dicts and lists of shapes)."""
    if isinstance(shapes, dict):
        return tuple(sorted(((repr(k), _frozen(v)) for k, v in shapes.items())))
    if isinstance(shapes, (list, tuple)):
        return tuple(_frozen(s) for s in shapes)
    return shapes if isinstance(shapes, (int, type(None))) else repr(shapes)


def _per_function(kind, fn, shapes: Shapes, nargs: int, opts: CompileOptions, build):
    """``build(program)`` for ``fn`` traced now, reused while ``fn`` traces to the same graph.

    Kept per (function, kind, shapes, argument count, options).  Tracing again
    at every call is what ``jax.jvp`` does: a cached build alone would go on
    computing with the closed-over values of the first call.
    """
    program = _program_for_call(fn, shapes, nargs)
    graph = _traced_graph(program)
    try:
        key = (kind, _frozen(shapes), nargs, opts)
        with _PER_FUNCTION_LOCK:
            cached = _PER_FUNCTION.setdefault(fn, {}).get(key)
    except TypeError:  # a function that cannot be weakly referenced: build every time
        return build(program)
    if cached is not None and _same_graph(cached[0], graph):
        return cached[1]
    built = build(program)
    with _PER_FUNCTION_LOCK:
        _PER_FUNCTION.setdefault(fn, {})[key] = (graph, built)
    return built


def _traced_graph(program: Program) -> tuple[tuple, list]:
    """What makes two traces the same code: the arguments, the output structure, and the output nodes."""
    leaves, tree = flatten(program.outputs)
    nodes = leaf_elements(leaves)
    return (tuple((a.name, a.shape) for a in program.args), program.params, tree), nodes


def _same_graph(a: tuple[tuple, list], b: tuple[tuple, list]) -> bool:
    """Equal arguments and structure, and the very same output nodes (compared by identity, never by ``==``)."""
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(x is y for x, y in zip(a[1], b[1]))
