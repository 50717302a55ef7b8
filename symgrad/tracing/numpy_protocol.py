"""numpy's protocols for symbolic values: ``np.sin(x)``, ``np.sum(v)``, ``np.where(c, a, b)`` on nodes.

:class:`~symgrad.ir.node.Node` forwards ``__array_ufunc__`` and
``__array_function__`` here (the IR layer does not import this one: the hooks
are installed at import, see :func:`install`).  Each numpy function either maps
to symgrad's own, or fails with one :class:`UnsupportedOpError` naming it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable

import numpy as np

from ..errors import InputError, TraceError, UnsupportedOpError
from ..ir import builders as B
from ..ir import node as _node
from ..ir.array import deep_plain, symbolic_array
from ..ir.node import Node
from ..ir.ops import OPS
from . import functions as F
from . import linalg as L
from .functions import amax, amin, clip, cumprod, cumsum, dot, matmul, mean, prod, std, sum, var, vdot, where


def _ufunc_table() -> dict[str, Callable]:
    """numpy's (and scipy.special's) ufunc names -> symgrad's function, from the op table and the composites."""
    table: dict[str, Callable] = {}
    for op in OPS.values():
        fn = getattr(F, op.public) if op.public else F.primitive(op.name)
        table.update(dict.fromkeys(op.ufuncs, fn))
    for composite in F.COMPOSITES.values():
        table.update(dict.fromkeys(composite.ufuncs, composite.fn))
    table["add"] = functools.partial(_numpy_add, table["add"])
    return table


def _numpy_add(add: Callable, x1, x2):
    """numpy's add: on boolean arrays a boolean array (True + True is True, a logical or), else the sum.

    The operator ``+`` of a node asks the same (``builders.binary``); a bare scalar keeps Python's True + True.
    """
    return F.logical_or(x1, x2) if B.boolean_arrays((x1, x2)) else add(x1, x2)


_UFUNCS = _ufunc_table()


_REDUCERS = {
    "add": sum,
    "multiply": prod,
    "maximum": amax,
    "minimum": amin,
    "fmax": F.fmax_reduce,
    "fmin": F.fmin_reduce,
}


_IGNORED_KWARGS = {"casting", "order", "subok", "signature"}  # no effect on values computed with objects
_MATMUL_AXES = [(-2, -1), (-2, -1), (-2, -1)]  # matmul's own axes, which ndarray's a @= b passes


def _ufunc_name(ufunc, method: str = "__call__") -> str:
    """``numpy.sin``, ``scipy.special.expit`` (scipy's ufuncs name no module: found by identity), ``numpy.add.reduce``."""
    name = ufunc.__name__
    special = sys.modules.get("scipy.special")
    module = (
        "scipy.special" if getattr(np, name, None) is not ufunc and getattr(special, name, None) is ufunc else "numpy"
    )
    return f"{module}.{name}" + ("" if method == "__call__" else f".{method}")


def _check_ufunc_kwargs(ufunc, method: str, kwargs: dict, allowed: set[str]) -> None:
    """Refuse keywords that would change the result (``out=``, ``where=``, a numeric ``dtype``...)."""
    for key, value in kwargs.items():
        if key in _IGNORED_KWARGS or key in allowed:
            continue
        if key == "out" and (value is None or (isinstance(value, tuple) and all(v is None for v in value))):
            continue
        if key == "dtype" and (value is None or value is object or np.dtype(value) == np.dtype(object)):
            continue
        if key == "where" and value is True and method != "__call__":  # passed on by ndarray.sum() & co.
            continue
        if key == "axes" and ufunc is np.matmul and value == _MATMUL_AXES:  # passed on by a @= b
            continue
        raise UnsupportedOpError(
            f"{_ufunc_name(ufunc, method)}({key}=...)",
            hint="A symbolic value cannot be written into a numeric buffer or masked; compute the result and use "
            "sg.where for masking.",
        )


def _object_output(kwargs: dict) -> np.ndarray | None:
    """The ``out=`` of an in-place operator on a symbolic array (``a += b``): one object array, taken out of kwargs.

    An object array holds symbolic values as well as numbers, so writing into it is what numpy does;
    a numeric buffer is left in ``kwargs`` for :func:`_check_ufunc_kwargs` to refuse.
    """
    out = kwargs.get("out")
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if isinstance(out, np.ndarray) and out.dtype == object:
        del kwargs["out"]
        return out
    return None


def ufunc_to_symbolic(ufunc, method: str, inputs, kwargs):
    """numpy's ufunc protocol for nodes: map ``np.sin`` & co. to symgrad's functions.

    Calls, and for the binary ufuncs ``.outer`` and (for sums, products, maxima and
    minima) ``.reduce`` and ``.accumulate``, are recorded; anything else is refused
    with :class:`UnsupportedOpError` naming the numpy function.
    """
    name = ufunc.__name__
    fn = _UFUNCS.get(name)
    if fn is None:
        hint = "It has no symbolic counterpart: write it with symgrad's functions (sg.exp, sg.where, ...)."
        raise UnsupportedOpError(_ufunc_name(ufunc, method), hint=hint)
    if method == "__call__":
        target = _object_output(kwargs)
        _check_ufunc_kwargs(ufunc, method, kwargs, {"axis"} if name == "vecdot" else set())
        if target is not None:  # a += b on symbolic arrays: numpy writes the result into a's object buffer
            target[...] = fn(*inputs)
            return target
        return fn(*inputs, **({"axis": kwargs["axis"]} if "axis" in kwargs else {}))  # vecdot's core axis
    if method == "outer" and ufunc.nin == 2:
        _check_ufunc_kwargs(ufunc, method, kwargs, set())
        # an object array as it is: a boolean one stays boolean (the outer sum of two is their logical or)
        a, b = (v if isinstance(v, np.ndarray) and v.dtype == object else np.asarray(v, dtype=object) for v in inputs)
        return fn(a.reshape(a.shape + (1,) * b.ndim), b)
    if method in ("reduce", "accumulate") and name in _REDUCERS:
        _check_ufunc_kwargs(ufunc, method, kwargs, {"axis", "keepdims", "initial"} if method == "reduce" else {"axis"})
        x = np.asarray(inputs[0], dtype=object)
        axis = kwargs.get("axis", 0)
        if method == "accumulate":
            if x.ndim == 0:
                raise UnsupportedOpError(_ufunc_name(ufunc, method), hint="numpy cannot accumulate a scalar either.")
            return F.scan(fn, x, 0 if axis is None else axis, _ufunc_name(ufunc, method))
        initial = kwargs.get("initial", np._NoValue)
        return _REDUCERS[name](x, axis=axis, keepdims=kwargs.get("keepdims", False), initial=initial)
    raise UnsupportedOpError(
        _ufunc_name(ufunc, method),
        hint="symgrad records calls, .outer, and .reduce/.accumulate of sums, products, maxima and minima.",
    )


# numpy functions with a direct symbolic counterpart, used when a node is among the operands; each takes
# numpy's arguments (the methods of a SymbolicArray pass theirs on positionally)
_ARRAY_FUNCTIONS = {
    np.where: where,
    np.clip: clip,
    np.sum: sum,
    np.prod: prod,
    np.mean: mean,
    np.var: var,
    np.std: std,
    np.cumsum: cumsum,
    np.cumprod: cumprod,
    np.dot: dot,
    np.vdot: vdot,
    np.matmul: matmul,
    np.sinc: F.sinc,
    np.linalg.det: L.det,
    np.linalg.inv: L.inv,
    np.linalg.solve: L.solve,
    np.linalg.norm: L.norm,
    np.trace: L.trace,
    np.outer: L.outer,
    np.tensordot: L.tensordot,
    np.einsum: L.einsum,
    np.concatenate: L.concatenate,
    np.stack: L.stack,
    np.hstack: L.hstack,
    np.vstack: L.vstack,
    np.reshape: L.reshape,
    np.transpose: L.transpose,
}


def _numpy_name(func) -> str:
    """``numpy.linalg.det``, ``numpy.sum``: the public name of a numpy function (never ``numpy._core...``)."""
    module = func.__module__ or "numpy"
    if module.startswith("numpy.") and module.split(".")[1].startswith("_"):
        module = "numpy"
    return f"{module}.{func.__name__}"


def _trivial(key: str, value) -> bool:
    """A keyword numpy passes on that changes nothing for symbolic values (``out=None``, ``where=True``...)."""
    if value is np._NoValue:
        return True
    if key == "out":
        return value is None or (isinstance(value, tuple) and all(v is None for v in value))
    if key == "dtype":
        return value is None or value is object
    return key == "where" and value is True


@functools.cache
def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _symbolic_call(func, fn: Callable, args, kwargs):
    """symgrad's ``fn`` for the numpy function ``func``: numpy's no-op keywords dropped, others refused by name."""
    what = _numpy_name(func)
    kwargs = {k: v for k, v in kwargs.items() if not _trivial(k, v)}
    for key in ("out", "dtype", "where"):
        if key in kwargs:
            F._refuse_numeric_options(what, **{key: kwargs[key]})
    signature = _signature(fn)
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            unknown = [k for k in kwargs if k not in signature.parameters]
            if unknown:
                raise UnsupportedOpError(
                    f"{what}({unknown[0]}=...)", hint="symgrad does not take that option."
                ) from None
            raise InputError(f"{what}: {exc}") from None
    return fn(*args, **kwargs)


def array_function_to_symbolic(func, types, args, kwargs):
    """numpy's ``__array_function__`` protocol for nodes.

    A few functions map to symgrad's own (``np.where`` is ``sg.where``); others run
    numpy's implementation, which works whenever it only does arithmetic on the
    elements.  If it fails (it sorts, calls LAPACK or FFT code, needs floats),
    the failure becomes one :class:`UnsupportedOpError` naming the numpy function.
    """
    fn = _ARRAY_FUNCTIONS.get(func)
    if fn is not None:
        if func is np.where and len(args) != 3:
            raise UnsupportedOpError("numpy.where with one argument", hint="It returns indices, which need numbers.")
        return _symbolic_call(func, fn, args, kwargs)
    if not all(issubclass(t, (Node, np.ndarray)) for t in types):
        return NotImplemented
    implementation = getattr(func, "_implementation", None)
    what = f"{func.__module__.replace('numpy._core', 'numpy').replace('numpy.core', 'numpy')}.{func.__name__}"
    if implementation is None:
        raise UnsupportedOpError(what, hint="It has no symbolic counterpart.")
    # numpy's own implementation (np.median, np.kron...) runs on plain object arrays, so the numpy
    # functions it calls inside do not come back here, and a failure names the function called
    args, kwargs = deep_plain(args), {k: deep_plain(v) for k, v in kwargs.items()}
    try:
        return symbolic_array(implementation(*args, **kwargs))
    except UnsupportedOpError:
        raise
    except (TypeError, ValueError, IndexError, AttributeError, TraceError) as exc:  # numpy failed on a node: name it
        raise UnsupportedOpError(
            what, hint=f"It has no symbolic counterpart (numpy raised {type(exc).__name__}: {exc})."
        ) from exc


for _name, _fn in (("amax", amax), ("amin", amin), ("max", amax), ("min", amin)):
    if hasattr(np, _name):
        _ARRAY_FUNCTIONS[getattr(np, _name)] = _fn


def element_method(name: str) -> Callable | None:
    """The method numpy's object-dtype loop of the ufunc ``name`` calls on each element (``x.log2()``).

    A ufunc on an array of nodes does not reach :meth:`Node.__array_ufunc__`: numpy loops over the
    elements and calls the method named after the ufunc.  It is the same function as for a node
    (so ``np.log2`` works on arrays as on scalars); numpy's other ufuncs get a method that raises
    :class:`UnsupportedOpError` naming them, and other names none.
    """
    fn = _UFUNCS.get(name)
    if fn is not None:
        return fn
    ufunc = getattr(np, name, None)
    if isinstance(ufunc, np.ufunc):
        return functools.partial(_refuse, ufunc)
    return None


def _refuse(ufunc, *args):
    hint = "It has no symbolic counterpart: write it with symgrad's functions (sg.exp, sg.where, ...)."
    raise UnsupportedOpError(_ufunc_name(ufunc), hint=hint)


def _numpy_typed(hook: Callable, numpy_call: Callable) -> Callable:
    """``hook`` (a protocol's) with its results typed as numpy types them (:func:`functions.numpy_typed`).

    ``numpy_call(what, how)``: the numpy callable the hook stands for (a ufunc's method, a function).
    """

    def typed(what, how, args, kwargs):
        return F.numpy_typed(hook(what, how, args, kwargs), numpy_call(what, how), args, kwargs)

    return typed


def install() -> None:
    """Route numpy's protocols on nodes to this module (called once, when symgrad.tracing is imported)."""
    _node.PROTOCOL.array_ufunc = _numpy_typed(ufunc_to_symbolic, getattr)
    _node.PROTOCOL.array_function = _numpy_typed(array_function_to_symbolic, lambda func, types: func)
    _node.PROTOCOL.element_method = element_method
