"""The math a user writes: symbols, numpy-named functions, reductions, softmax.

Scalars are :class:`~symgrad.ir.Node` objects; arrays are numpy object arrays
of nodes, so indexing, slicing, ``.T``, ``.shape``, broadcasting and ``@`` are
numpy's own.  Every function here accepts nodes, numbers, numeric arrays and
arrays of nodes alike, and numpy's ufuncs (``np.sin(x)``) route here too.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..errors import ShapeError, TraceError, UnsupportedOpError
from ..ir import builders as B
from ..ir.node import Node, symbol


def symbols(names: str, shape: tuple[int, ...] | int | None = None):
    """``symbols("x y")`` -> scalar symbols; ``symbols("a", shape=(2,))`` -> an array symbol."""
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("symbols() needs at least one name")
    for p in parts:
        if not p.isidentifier():
            raise ValueError(f"symbol names must be identifiers, got {p!r}")
    if shape is None:
        made = [symbol(p) for p in parts]
    else:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        made = [array_symbol(p, shape) for p in parts]
    return made[0] if len(made) == 1 else tuple(made)


def array_symbol(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array whose element ``i`` is the symbol printed ``name[i]``."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = symbol(name, idx)
    return out


def _unary(name: str):
    def fn(x):
        return B.elementwise(lambda v: B.call(name, v), _arr(x))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}, on symbols, numbers and arrays."
    return fn


def _arr(x):
    """Lists become arrays; everything else passes through."""
    return np.asarray(x, dtype=object) if isinstance(x, (list, tuple)) else x


sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
arcsin = _unary("arcsin")
arccos = _unary("arccos")
arctan = _unary("arctan")
sinh = _unary("sinh")
cosh = _unary("cosh")
tanh = _unary("tanh")
exp = _unary("exp")
expm1 = _unary("expm1")
log = _unary("log")
log1p = _unary("log1p")
abs = _unary("abs")
sign = _unary("sign")
sigmoid = _unary("sigmoid")
relu = _unary("relu")
stop_gradient = _unary("stop_gradient")


def sqrt(x):
    """Elementwise square root (a power of 1/2 in the graph)."""
    return B.elementwise(lambda v: B.pow(v, Fraction(1, 2)), _arr(x))


def square(x):
    return B.elementwise(lambda v: B.pow(v, 2), _arr(x))


def log2(x):
    return B.elementwise(lambda v: B.mul(B.call("log", v), 1 / math.log(2)), _arr(x))


def log10(x):
    return B.elementwise(lambda v: B.mul(B.call("log", v), 1 / math.log(10)), _arr(x))


def arctan2(y, x):
    return B.elementwise(lambda a, b: B.call("arctan2", a, b), _arr(y), _arr(x))


def maximum(a, b):
    return B.elementwise(lambda u, v: B.call("maximum", u, v), _arr(a), _arr(b))


def minimum(a, b):
    return B.elementwise(lambda u, v: B.call("minimum", u, v), _arr(a), _arr(b))


def clip(x, a_min=None, a_max=None):
    """``minimum(maximum(x, a_min), a_max)``; either bound may be None."""
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def where(cond, a, b):
    """Select ``a`` where ``cond`` holds, else ``b``; branch-free, and nan-safe to differentiate."""
    return B.elementwise(B.where, _arr(cond), _arr(a), _arr(b))


# -- reductions ----------------------------------------------------------------


def _reduce(builder, x, axis, keepdims: bool):
    x = np.asarray(x, dtype=object)
    if axis is None:
        axes = tuple(range(x.ndim))
    else:
        axes = tuple(a % x.ndim if x.ndim else a for a in ((axis,) if isinstance(axis, int) else axis))
        for a in axes:
            if not 0 <= a < max(x.ndim, 1):
                raise ShapeError(f"axis {axis} is out of range for an array of shape {x.shape}")
    keep = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, keep + list(axes)) if x.ndim else x
    kept_shape = tuple(x.shape[d] for d in keep)
    flat = moved.reshape(kept_shape + (-1,))
    out = np.empty(kept_shape, dtype=object)
    for idx in np.ndindex(*kept_shape):
        out[idx] = builder(*flat[idx])
    if keepdims:
        out = out.reshape(tuple(1 if d in axes else n for d, n in enumerate(x.shape)))
    return out[()] if out.ndim == 0 else out


def sum(x, axis=None, keepdims: bool = False):
    """Sum of elements as one n-ary node per output element."""
    return _reduce(B.add, x, axis, keepdims)


def prod(x, axis=None, keepdims: bool = False):
    return _reduce(B.mul, x, axis, keepdims)


def mean(x, axis=None, keepdims: bool = False):
    x = np.asarray(x, dtype=object)
    total = sum(x, axis, keepdims)
    count = x.size // max(np.asarray(total, dtype=object).size, 1) if x.size else 1
    return B.elementwise(lambda t: B.mul(t, Fraction(1, count)), total)


def amax(x, axis=None, keepdims: bool = False):
    """The largest element (a chain of ``maximum``)."""
    return _reduce(lambda *v: _fold(B.call, "maximum", v), x, axis, keepdims)


def amin(x, axis=None, keepdims: bool = False):
    return _reduce(lambda *v: _fold(B.call, "minimum", v), x, axis, keepdims)


def _fold(call, name, values):
    acc = values[0]
    for v in values[1:]:
        acc = call(name, acc, v)
    return B.as_node(acc)


def matmul(a, b):
    """Matrix product with numpy's rules for 1-D and stacked operands; n-ary sums inside."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs arrays of at least one dimension, got shapes {a.shape} and {b.shape}")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned")
    products = B.elementwise(B.mul, a2[..., :, :, None], b2[..., None, :, :])
    out = sum(products, axis=-2)
    out = np.asarray(out, dtype=object)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out[()] if out.ndim == 0 else out


def dot(a, b):
    """numpy's ``dot``: products for scalars, matmul otherwise."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return B.elementwise(B.mul, _arr(a), _arr(b))
    return matmul(a, b)


def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x)))``, shifted by the (gradient-free) maximum so it never overflows."""
    x = np.asarray(x, dtype=object)
    shift = stop_gradient(amax(x, axis=axis, keepdims=True))
    total = sum(exp(x - shift), axis=axis, keepdims=keepdims)
    # without keepdims the shift is re-reduced to the output's shape: hash-consing makes it the same nodes
    return log(total) + (shift if keepdims else stop_gradient(amax(x, axis=axis)))


def softmax(x, axis: int = -1):
    """``exp(x_i) / sum_j exp(x_j)``, shifted by the maximum for stability."""
    x = np.asarray(x, dtype=object)
    shift = stop_gradient(amax(x, axis=axis, keepdims=True))
    e = exp(x - shift)
    return e / sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    x = np.asarray(x, dtype=object)
    return x - logsumexp(x, axis=axis, keepdims=True)


# -- numpy ufuncs called on nodes ---------------------------------------------------

_UFUNCS = {
    "add": lambda a, b: B.binary("add", a, b),
    "subtract": lambda a, b: B.binary("sub", a, b),
    "multiply": lambda a, b: B.binary("mul", a, b),
    "divide": lambda a, b: B.binary("div", a, b),
    "true_divide": lambda a, b: B.binary("div", a, b),
    "power": lambda a, b: B.binary("pow", a, b),
    "float_power": lambda a, b: B.binary("pow", a, b),
    "negative": lambda a: B.elementwise(lambda v: B.mul(-1, v), a),
    "positive": lambda a: a,
    "absolute": abs,
    "fabs": abs,
    "less": lambda a, b: B.binary("lt", a, b),
    "less_equal": lambda a, b: B.binary("le", a, b),
    "greater": lambda a, b: B.binary("gt", a, b),
    "greater_equal": lambda a, b: B.binary("ge", a, b),
    "sqrt": sqrt,
    "square": square,
    "log2": log2,
    "log10": log10,
    "arctan2": arctan2,
    "maximum": maximum,
    "minimum": minimum,
    "fmax": maximum,
    "fmin": minimum,
    **{
        name: globals()[name]
        for name in [
            "sin",
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "tanh",
            "exp",
            "expm1",
            "log",
            "log1p",
            "sign",
        ]
    },
}


_REDUCERS = {"add": sum, "multiply": prod, "maximum": amax, "minimum": amin, "fmax": amax, "fmin": amin}
_IGNORED_KWARGS = {"casting", "order", "subok", "signature"}  # no effect on values computed with objects


def _ufunc_name(ufunc, method: str) -> str:
    return f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")


def _check_ufunc_kwargs(ufunc, method: str, kwargs: dict, allowed: set[str]) -> None:
    """Refuse keywords that would change the result (``out=``, ``where=``, a numeric ``dtype``...)."""
    for key, value in kwargs.items():
        if key in _IGNORED_KWARGS or key in allowed:
            continue
        if key == "out" and (value is None or (isinstance(value, tuple) and all(v is None for v in value))):
            continue
        if key == "dtype" and (value is None or value is object or np.dtype(value) == np.dtype(object)):
            continue
        raise UnsupportedOpError(
            f"{_ufunc_name(ufunc, method)}({key}=...)",
            hint="A symbolic value cannot be written into a numeric buffer or masked; compute the result and use "
            "sg.where for masking.",
        )


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
        _check_ufunc_kwargs(ufunc, method, kwargs, set())
        return fn(*inputs)
    if method == "outer" and ufunc.nin == 2:
        _check_ufunc_kwargs(ufunc, method, kwargs, set())
        a, b = (np.asarray(v, dtype=object) for v in inputs)
        return fn(a.reshape(a.shape + (1,) * b.ndim), b)
    if method in ("reduce", "accumulate") and name in _REDUCERS:
        _check_ufunc_kwargs(ufunc, method, kwargs, {"axis", "keepdims", "initial"} if method == "reduce" else {"axis"})
        x = np.asarray(inputs[0], dtype=object)
        axis = kwargs.get("axis", 0)
        if method == "accumulate":
            if x.ndim == 0:
                raise UnsupportedOpError(_ufunc_name(ufunc, method), hint="numpy cannot accumulate a scalar either.")
            return _accumulate(fn, x, 0 if axis is None else axis)
        if "initial" in kwargs and kwargs["initial"] is not np._NoValue:
            x = np.concatenate([np.asarray(x, dtype=object).reshape(-1), [kwargs["initial"]]]) if axis is None else x
            if axis is not None:
                raise UnsupportedOpError(_ufunc_name(ufunc, method) + "(initial=...)", hint="Use axis=None with it.")
            axis = None
        return _REDUCERS[name](x, axis=axis, keepdims=kwargs.get("keepdims", False))
    raise UnsupportedOpError(
        _ufunc_name(ufunc, method),
        hint="symgrad records calls, .outer, and .reduce/.accumulate of sums, products, maxima and minima.",
    )


def _accumulate(fn, x: np.ndarray, axis: int):
    moved = np.moveaxis(x, axis, 0)
    out = np.empty(moved.shape, dtype=object)
    acc = moved[0]
    out[0] = acc
    for i in range(1, moved.shape[0]):
        acc = fn(acc, moved[i])
        out[i] = acc
    return np.moveaxis(out, 0, axis)


# numpy functions with a direct symbolic counterpart, used when a node is among the operands
_ARRAY_FUNCTIONS = {
    np.where: where,
    np.clip: clip,
    np.sum: sum,
    np.prod: prod,
    np.mean: mean,
    np.dot: dot,
    np.matmul: matmul,
}
for _name, _fn in (("amax", amax), ("amin", amin), ("max", amax), ("min", amin)):
    if hasattr(np, _name):
        _ARRAY_FUNCTIONS[getattr(np, _name)] = _fn


def array_function_to_symbolic(func, types, args, kwargs):
    """numpy's ``__array_function__`` protocol for nodes.

    A few functions map to symgrad's own (``np.where`` is ``sg.where``); others run
    numpy's implementation, which works whenever it only does arithmetic on the
    elements.  If it fails (it sorts, calls LAPACK or FFT code, needs floats),
    the failure becomes one :class:`UnsupportedOpError` naming the numpy function.
    """
    fn = _ARRAY_FUNCTIONS.get(func)
    if fn is not None and not kwargs.get("out") and "where" not in kwargs and "dtype" not in kwargs:
        if func is np.where and len(args) != 3:
            raise UnsupportedOpError("numpy.where with one argument", hint="It returns indices, which need numbers.")
        return fn(*args, **kwargs)
    if not all(issubclass(t, (Node, np.ndarray)) for t in types):
        return NotImplemented
    implementation = getattr(func, "_implementation", None)
    what = f"{func.__module__.replace('numpy._core', 'numpy').replace('numpy.core', 'numpy')}.{func.__name__}"
    if implementation is None:
        raise UnsupportedOpError(what, hint="It has no symbolic counterpart.")
    try:
        return implementation(*args, **kwargs)
    except UnsupportedOpError:
        raise
    except (TypeError, ValueError, IndexError, TraceError) as exc:  # numpy failed on a node: name it, keep why
        raise UnsupportedOpError(
            what, hint=f"It has no symbolic counterpart (numpy raised {type(exc).__name__}: {exc})."
        ) from exc


def is_symbolic(x) -> bool:
    """Whether ``x`` is a node or an array holding one."""
    if isinstance(x, Node):
        return True
    if isinstance(x, np.ndarray) and x.dtype == object:
        return any(isinstance(v, Node) for v in x.flat)
    return False
