"""The user API over expressions, and the dispatch between expressions and functions.

``sg.jacobian``, ``sg.hessian`` and ``sg.compile`` take either a Python
function (JAX style: a transformed callable comes back) or expressions (sympy
style: arrays of derivative expressions come back).  As in sympy, expressions
and variables may be strings (``sg.diff("x**2", "x")``): they go through the
safe formula parser (:mod:`symgrad.formula`, never ``eval``), and
``sg.lambdify`` is sympy's name for compiling expressions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..codegen import schedule
from ..diff.policy import diff_spec, variable_runs
from ..diff.reverse import check_variables, derivative_tensor, expand_symmetric, gradient_nodes
from ..errors import DiffError, InputError
from ..formula import parse
from ..ir.node import Node, symbol, toposort
from ..tracing.functions import symbols
from ..tracing.program import Arg, Program, leaf_elements, symbolic_outputs
from ..tracing.pytree import flatten
from ..tracing.tracer import Shapes
from . import transforms
from .compiled import Compiled
from .dataset import DataArgs, compiled_for, dataset_spec


def _is_function(obj) -> bool:
    return callable(obj) and not isinstance(obj, (Node, np.ndarray))


# -- formula strings: parsed safely, as sympy users write them --------------------------------


def _variable(v):
    """A variable as given, or the symbol a name string (``"x"``) names; lists and tuples itemwise."""
    if isinstance(v, str):
        if not v.isidentifier():
            raise DiffError(f"can only differentiate with respect to symbols; {v!r} is not a symbol name")
        return symbol(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_variable(item) for item in v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _wrt(wrt):
    """``wrt`` with names as symbols: ``"x y"`` or ``"x:3"`` (sg.symbols' syntax) gives a list of them."""
    if isinstance(wrt, str):
        made = symbols(wrt)
        return list(made) if isinstance(made, tuple) else made
    return _variable(wrt)


def _formula(e, variables=()):
    """A formula string parsed safely (array symbols among ``variables`` keep their shapes); else ``e`` as given.

    The variables are declared, so a variable named ``e`` or ``pi`` is that symbol in the
    formula, not the constant (``diff("e*x", "e")`` is ``x``, as sympy's).
    """
    if isinstance(e, (list, tuple)) and any(isinstance(v, str) for v in e):
        return type(e)(_formula(v, variables) for v in e)
    if not isinstance(e, str):
        return e
    shapes = {}
    for v in variables if isinstance(variables, (list, tuple)) else [variables]:
        if isinstance(v, np.ndarray) and v.size and isinstance(v.flat[0], Node) and v.flat[0].op == "sym":
            shapes[v.flat[0].value[0]] = v.shape
        elif isinstance(v, Node) and v.op == "sym" and not v.value[1]:  # a scalar symbol, not an array's element
            shapes[v.name] = ()
    return parse(e, shapes).value


def _no_options(what: str, options: dict, extra: tuple = ()) -> None:
    """Refuse a function form's options given to an expression form, keywords or (``extra``) positional.

    ``jacobian(es, wrt, 0)`` reads as the function form's argnums; a Python
    TypeError there would name a private helper, not what was wrong.
    """
    if extra:
        raise InputError(
            f"{what} of expressions takes the expression and wrt, got {len(extra)} more positional argument(s); "
            "argnums, shapes= and code options are for functions"
        )
    if options:
        raise InputError(
            f"{what} of expressions got unknown keyword(s) {', '.join(map(repr, options))}; "
            "code options (backend=, dtype=, ...) are for functions and sg.compile"
        )


def _variables(wrt) -> tuple[list[Node], tuple[int, ...]]:
    """Flatten ``wrt`` (a symbol, an array symbol, or a list of symbols) and keep its shape."""
    arr = np.asarray(wrt, dtype=object)
    flat = list(arr.reshape(-1))
    check_variables(flat)
    return flat, arr.shape


def _elementwise(e, fn):
    if isinstance(e, dict):  # a pytree of expressions: each value, as the transforms take dict outputs
        return {k: _elementwise(v, fn) for k, v in e.items()}
    if isinstance(e, (list, tuple)):
        e = np.asarray(e, dtype=object)
    if isinstance(e, np.ndarray):
        out = np.empty(e.shape, dtype=object)
        for idx in np.ndindex(*e.shape):
            out[idx] = fn(symbolic_outputs(e[idx]))
        return out
    return fn(symbolic_outputs(e))


def diff(e, *spec, **kwargs):
    """sympy's ``diff``: ``diff(e, x)``, ``diff(e, x, 3)``, ``diff(e, (x, 3), y)``, ``diff(e, x, x, y)``; arrays elementwise.

    Differentiating with respect to an array symbol gives ``e.shape + x.shape``, ``k`` times
    (``diff(e, a, 2)``, sympy's Hessian) ``e.shape + a.shape * k``, and an array after a
    variable (``diff(e, x, a)``) differentiates the derivative before it.
    ``e`` may be a formula string and the variables names: ``diff("x**2", "x")``.
    """
    evaluate = kwargs.pop("evaluate", True)
    if kwargs:
        raise InputError(f"diff got an unknown keyword {next(iter(kwargs))!r}; it takes the variables and orders")
    if evaluate is not True:
        raise InputError(
            "diff(evaluate=False) is not supported: symgrad builds the derivative itself, not a Derivative"
        )
    spec = tuple(item for v in spec for item in _counted(v))
    spec = tuple(_variable(v) for v in spec)
    e = _formula(e, spec)
    if any(isinstance(v, (np.ndarray, list, tuple)) for v in spec):
        return _diff_by_arrays(e, spec)
    return _elementwise(e, lambda node: diff_spec(node, spec))


def _diff_by_arrays(e, spec: tuple):
    """:func:`diff` with array variables among ``spec``: each run of a variable in turn, an array's axes appended."""
    for v, k in variable_runs(spec):
        if not isinstance(v, (np.ndarray, list, tuple)):
            e = _elementwise(e, lambda node, v=v, k=k: diff_spec(node, [v, k]))
        elif k == 1:
            e = jacobian(e, v)
        elif k > 1:  # the unique entries of each element's k-th derivative tensor, as sg.hessian builds them
            variables, shape = _variables(v)
            outs = np.asarray(symbolic_outputs(e), dtype=object)
            if outs.ndim + k * len(shape) > transforms.MAX_ORDER:
                raise DiffError(f"diff of order {k} by an array has more axes than numpy's {transforms.MAX_ORDER}")
            result = np.empty(outs.shape + (len(variables),) * k, dtype=object)
            for idx in np.ndindex(*outs.shape):
                result[idx] = expand_symmetric(derivative_tensor(outs[idx], variables, k), len(variables), k)
            e = result.reshape(outs.shape + shape * k)
    return e


def _counted(v) -> tuple:
    """sympy's ``(x, 2)`` or ``(a, 2)`` (a variable or array symbol and how many times) as ``x, 2``; else as itself."""
    if (
        isinstance(v, tuple)
        and len(v) == 2
        and isinstance(v[1], (int, np.integer))
        and not isinstance(v[1], (bool, np.bool_))
        and not isinstance(v[0], (tuple, list))
    ):
        return v
    return (v,)


def gradient(e, wrt):
    """The gradient of one scalar expression, shaped like ``wrt`` (names and a formula string are accepted)."""
    wrt = _wrt(wrt)
    node = symbolic_outputs(_formula(e, wrt))
    if not isinstance(node, Node):
        raise DiffError(f"gradient needs a scalar expression, got an array of shape {np.shape(node)}; use sg.jacobian")
    variables, shape = _variables(wrt)
    out = gradient_nodes(node, variables)
    return np.array(out, dtype=object).reshape(shape)


def jacobian(es, *args, **kwargs):
    """Function: ``jax.jacobian``-style transform, ``jacobian(fn, argnums=0, shapes=None, ...)``.

    Expressions: ``jacobian(es, wrt)``, an ``es.shape + wrt.shape`` array.  The
    arguments after the first are each form's own, so ``jacobian(fn, 1)`` is
    argnums 1, as in JAX (not a ``wrt`` that a function ignores).
    """
    if _is_function(es):
        return transforms.jacobian_function(es, *args, **kwargs)
    return _expression_jacobian(es, *args, **kwargs)


def _expression_jacobian(es, wrt=None, *extra, **options):
    _no_options("jacobian", options, extra)
    if wrt is None:
        raise DiffError("jacobian of expressions needs wrt= (the symbols to differentiate with respect to)")
    wrt = _wrt(wrt)
    variables, shape = _variables(wrt)
    outs = np.asarray(symbolic_outputs(_formula(es, wrt)), dtype=object)
    result = np.empty(outs.shape + (len(variables),), dtype=object)
    for idx in np.ndindex(*outs.shape):
        result[idx] = np.array(gradient_nodes(outs[idx], variables) if variables else [], dtype=object)
    return result.reshape(outs.shape + shape)


def hessian(e, *args, **kwargs):
    """Function: ``jax.hessian``-style transform, ``hessian(fn, argnums=0, shapes=None, ...)``.

    Expression: ``hessian(e, wrt)``, a symmetric ``wrt.shape * 2`` array (the
    arguments after the first are each form's own, as in :func:`jacobian`).
    """
    if _is_function(e):
        return transforms.hessian_function(e, *args, **kwargs)
    return _expression_hessian(e, *args, **kwargs)


def _expression_hessian(e, wrt=None, *extra, **options):
    _no_options("hessian", options, extra)
    if wrt is None:
        raise DiffError("hessian of an expression needs wrt= (the symbols to differentiate with respect to)")
    wrt = _wrt(wrt)
    node = symbolic_outputs(_formula(e, wrt))
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
    data: DataArgs = None,
    reduce: str | None = None,
    **options,
) -> Compiled:
    """Compile a function (traced) or expressions (with ``inputs=[...]``) into fused code.

    A single expression gives one result, an array of expressions one array, a
    list or tuple of outputs a tuple of results, as ``sympy.lambdify`` does.
    ``data=`` names (or positions) the arguments that hold one value per sample
    (a leading sample axis when called) and ``reduce=`` ("mean", the default, or
    "sum") how every output is reduced over the samples: a loss over a dataset.
    """
    opts = transforms.options_of("compile", backend, dtype, options)
    if _is_function(outputs) or isinstance(outputs, Compiled):
        if inputs is not None:
            raise InputError("inputs= is for expressions; a function's arguments come from its signature")
        return transforms.compile_function(outputs, shapes, backend, dtype, data, reduce, **options)
    symbolic = symbolic_outputs(outputs, none=True)  # outputs as a pytree: None given back as None, as JAX
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
    _check_distinct(args)
    program = Program(args, symbolic)
    return compiled_for(program, opts, dataset_spec(None, program, data, reduce, "compile"), what="compile")


def _check_distinct(args: tuple[Arg, ...]) -> None:
    """An InputError if a symbol is among the inputs twice (sympy's lambdify: duplicate argument), not the last wins."""
    seen: dict[Node, str] = {}
    for a in args:
        for s in a.symbols:
            if s in seen:
                raise InputError(
                    f"the inputs hold {s.name} twice (in {seen[s]} and in {a.name}): give each symbol once"
                )
            seen[s] = a.name


_MODULES = frozenset({"numpy", "math", "scipy"})  # what symgrad's generated code computes like


def _check_modules(modules) -> None:
    names = [modules] if isinstance(modules, str) or modules is None else modules
    if not isinstance(names, (list, tuple)):
        raise InputError(f"lambdify(modules=...) takes a module name or a list of them, got {type(modules).__name__}")
    for m in names:
        if m is not None and (not isinstance(m, str) or m not in _MODULES):  # a dict of functions is unhashable
            raise InputError(
                f"lambdify(modules={m!r}) is not supported: symgrad generates its own code, which computes as numpy "
                "does (modules='numpy' or None); for other targets use backend='c' or backend='cuda'"
            )


def _lambdify_inputs(args) -> list:
    if isinstance(args, str):
        made = symbols(args)
        return list(made) if isinstance(made, tuple) else [made]
    if isinstance(args, (Node, np.ndarray)):
        return [args]
    if isinstance(args, (list, tuple)):
        return [symbol(a) if isinstance(a, str) and a.isidentifier() else a for a in args]
    raise InputError(f"lambdify's args must be a symbol, an array symbol or a list of them, got {type(args).__name__}")


def lambdify(
    args,
    expr,
    modules=None,
    printer=None,
    use_imps: bool = True,
    dummify: bool = False,
    cse: bool = False,
    docstring_limit: int | None = 1000,
    **options,
) -> Compiled:
    """sympy's ``lambdify(args, expr)``: ``sg.compile(expr, inputs=args)``, with sympy's signature.

    ``args`` is a symbol, an array symbol or a list of them (or names); ``expr``
    an expression, an array or list of them, or a formula string.  ``modules``
    may be None, ``"numpy"``, ``"math"`` or ``"scipy"`` (the generated code computes as they do);
    ``use_imps``, ``dummify``, ``cse`` and ``docstring_limit`` are accepted and
    have nothing to do (common subexpressions are always computed once).
    ``backend=``, ``dtype=`` and the other options of ``sg.compile`` pass through.
    """
    _check_modules(modules)
    if printer is not None:
        raise InputError("lambdify(printer=...) is not supported: symgrad prints its own code (see backend=)")
    inputs = _lambdify_inputs(args)
    return compile(_formula(expr, inputs), inputs=inputs, **options)


def operation_count(outputs) -> int:
    """Arithmetic operations per point after sharing; an n-ary sum or product counts n - 1.

    ``outputs``: an expression, an array or a pytree of them, or a compiled
    function (its outputs, as built: the code may fold a few more).
    """
    if isinstance(outputs, Compiled):
        outputs = outputs.outputs
    leaves, _ = flatten(symbolic_outputs(outputs, none=True))
    return schedule.operation_count(leaf_elements(leaves))
