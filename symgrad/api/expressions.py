"""The user API over expressions, and the dispatch between expressions and functions.

``sg.jacobian``, ``sg.hessian`` and ``sg.compile`` take either a Python
function (JAX style: a transformed callable comes back) or expressions (sympy
style: arrays of derivative expressions come back).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..diff.policy import diff_spec
from ..diff.reverse import check_variables, derivative_tensor, expand_symmetric, gradient_nodes
from ..errors import DiffError, InputError
from ..ir.node import Node, toposort
from ..trace.program import Arg, Program, symbolic_outputs
from ..trace.pytree import flatten
from ..trace.tracer import Shapes
from . import transforms
from .compiled import Compiled


def _is_function(obj) -> bool:
    return callable(obj) and not isinstance(obj, (Node, np.ndarray))


def _variables(wrt) -> tuple[list[Node], tuple[int, ...]]:
    """Flatten ``wrt`` (a symbol, an array symbol, or a list of symbols) and keep its shape."""
    arr = np.asarray(wrt, dtype=object)
    flat = list(arr.reshape(-1))
    check_variables(flat)
    return flat, arr.shape


def _elementwise(e, fn):
    if isinstance(e, (list, tuple)):
        e = np.asarray(e, dtype=object)
    if isinstance(e, np.ndarray):
        out = np.empty(e.shape, dtype=object)
        for idx in np.ndindex(*e.shape):
            out[idx] = fn(symbolic_outputs(e[idx]))
        return out
    return fn(symbolic_outputs(e))


def diff(e, *spec):
    """sympy's ``diff``: ``diff(e, x)``, ``diff(e, x, 3)``, ``diff(e, x, x, y)``; arrays elementwise.

    Differentiating with respect to an array symbol gives ``e.shape + x.shape``.
    """
    if len(spec) == 1 and isinstance(spec[0], (np.ndarray, list, tuple)):
        return jacobian(e, spec[0])
    return _elementwise(e, lambda node: diff_spec(node, spec))


def gradient(e, wrt):
    """The gradient of one scalar expression, shaped like ``wrt``."""
    node = symbolic_outputs(e)
    if not isinstance(node, Node):
        raise DiffError(f"gradient needs a scalar expression, got an array of shape {np.shape(node)}; use sg.jacobian")
    variables, shape = _variables(wrt)
    out = gradient_nodes(node, variables)
    return np.array(out, dtype=object).reshape(shape)


def jacobian(es, wrt=None, argnums=0, shapes: Shapes = None, backend: str = "numpy", dtype: str = "float64", **options):
    """Function: ``jax.jacobian``-style transform.  Expressions: ``es.shape + wrt.shape`` array."""
    if _is_function(es):
        return transforms.jacobian_function(es, argnums, shapes, backend, dtype, **options)
    if wrt is None:
        raise DiffError("jacobian of expressions needs wrt= (the symbols to differentiate with respect to)")
    variables, shape = _variables(wrt)
    outs = np.asarray(symbolic_outputs(es), dtype=object)
    result = np.empty(outs.shape + (len(variables),), dtype=object)
    for idx in np.ndindex(*outs.shape):
        result[idx] = np.array(gradient_nodes(outs[idx], variables) if variables else [], dtype=object)
    return result.reshape(outs.shape + shape)


def hessian(e, wrt=None, argnums=0, shapes: Shapes = None, backend: str = "numpy", dtype: str = "float64", **options):
    """Function: ``jax.hessian``-style transform.  Expression: ``wrt.shape * 2`` array, symmetric."""
    if _is_function(e):
        return transforms.hessian_function(e, argnums, shapes, backend, dtype, **options)
    if wrt is None:
        raise DiffError("hessian of an expression needs wrt= (the symbols to differentiate with respect to)")
    node = symbolic_outputs(e)
    if not isinstance(node, Node):
        raise DiffError(f"hessian needs a scalar expression, got an array of shape {np.shape(node)}")
    variables, shape = _variables(wrt)
    return expand_symmetric(derivative_tensor(node, variables, 2), len(variables), 2).reshape(shape + shape)


def _input_arg(item) -> Arg:
    arr = np.asarray(item, dtype=object)
    flat = list(arr.reshape(-1))
    if not flat or any(not isinstance(v, Node) or v.op != "sym" for v in flat):
        raise InputError(f"compile inputs must be symbols or array symbols, got {item!r}")
    name = flat[0].name if arr.shape == () else flat[0].value[0]
    return Arg(name, arr.shape, tuple(flat))


def compile(
    outputs,
    inputs: Sequence | None = None,
    shapes: Shapes = None,
    backend: str = "numpy",
    dtype: str = "float64",
    **options,
) -> Compiled:
    """Compile a function (traced) or expressions (with ``inputs=[...]``) into fused code.

    A single expression gives one result, an array of expressions one array, a
    list or tuple of outputs a tuple of results, as ``sympy.lambdify`` does.
    """
    opts = transforms.options_of("compile", backend, dtype, options)
    if _is_function(outputs) or isinstance(outputs, Compiled):
        if inputs is not None:
            raise InputError("inputs= is for expressions; a function's arguments come from its signature")
        return transforms.compile_function(outputs, shapes, backend, dtype, **options)
    symbolic = symbolic_outputs(outputs)
    if isinstance(symbolic, list):
        symbolic = tuple(symbolic)
    if inputs is None:
        leaves, _ = flatten(symbolic)  # dicts, lists and tuples of outputs, nested
        roots = [r for leaf in leaves for r in np.asarray(leaf, dtype=object).reshape(-1)]
        free = sorted({n.name: n for n in toposort([r for r in roots if isinstance(r, Node)]) if n.op == "sym"}.items())
        inputs = [n for _, n in free]
    if isinstance(inputs, (Node, np.ndarray)):
        inputs = [inputs]
    args = tuple(_input_arg(i) for i in inputs)
    return Compiled(Program(args, symbolic), opts)
