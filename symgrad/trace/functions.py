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

from ..errors import ShapeError
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


def is_symbolic(x) -> bool:
    """Whether ``x`` is a node or an array holding one."""
    if isinstance(x, Node):
        return True
    if isinstance(x, np.ndarray) and x.dtype == object:
        return any(isinstance(v, Node) for v in x.flat)
    return False
