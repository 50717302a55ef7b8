"""The math a user writes: symbols, numpy-named functions, reductions, softmax.

Scalars are :class:`~symgrad.ir.Node` objects; arrays are numpy object arrays
of nodes, so indexing, slicing, ``.T``, ``.shape``, broadcasting and ``@`` are
numpy's own.  Every function here accepts nodes, numbers, numeric arrays and
arrays of nodes alike, and numpy's ufuncs (``np.sin(x)``) route here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import AxisError, InputError, ShapeError, SymbolNameError
from ..ir import builders as B
from ..ir.array import SymbolicArray
from ..ir.node import Node, symbol
from ..ir.ops import OPS

MAX_SYMBOL_ELEMENTS = 10**6
"""Largest array symbol: each element is a node (about 200 bytes, a microsecond to make), and code for more
symbolic scalars than this could not be generated in reasonable time anyway."""
MAX_NDIM = 32
"""Most dimensions of an array symbol (numpy's iterators handle at most 32)."""


def symbols(names: str, shape: tuple[int, ...] | int | None = None):
    """``symbols("x y")`` -> scalar symbols; ``symbols("a", shape=(2,))`` -> an array symbol."""
    if not isinstance(names, str):
        raise InputError(f"symbols() takes a string of names such as 'x y', got {type(names).__name__}")
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise SymbolNameError(f"symbols() needs at least one name, got {names!r}")
    for p in parts:
        if not p.isidentifier():
            raise SymbolNameError(f"symbol names must be identifiers (like x, x1, alpha), got {p!r}")
    if shape is None:
        made = [symbol(p) for p in parts]
    else:
        made = [array_symbol(p, check_shape(shape, p)) for p in parts]
    return made[0] if len(made) == 1 else tuple(made)


def check_shape(shape, name: str) -> tuple[int, ...]:
    """``shape`` (an int or a tuple of ints) as a tuple, refusing negative, huge or non-integer ones."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
        raise InputError(f"the shape of {name!r} must be an int or a tuple of ints, got {shape!r}")
    dims = tuple(dims)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) for d in dims):
        raise InputError(f"the shape of {name!r} must be an int or a tuple of ints, got {shape!r}")
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise InputError(f"the shape of {name!r} has a negative dimension: {dims}")
    if len(dims) > MAX_NDIM:
        raise InputError(f"the shape of {name!r} has {len(dims)} dimensions, at most {MAX_NDIM} are supported")
    if math.prod(dims) > MAX_SYMBOL_ELEMENTS:
        raise InputError(
            f"the shape {dims} of {name!r} has {math.prod(dims):,} elements, more than the {MAX_SYMBOL_ELEMENTS:,} "
            "an array symbol may have"
        )
    return dims


def array_symbol(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array whose element ``i`` is the symbol printed ``name[i]``."""
    shape = check_shape(shape, name)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = symbol(name, idx)
    return out.view(SymbolicArray)


def primitive(name: str):
    """The elementwise function applying the table's op ``name``: on symbols, numbers, lists and arrays."""
    build = _ARITHMETIC.get(name) or (lambda *v: B.call(name, *v))
    # a fixed signature, as numpy names its ufuncs' operands: sg.grad(sg.sin) traces one argument
    if OPS[name].arity == 1:

        def fn(x):
            return B.elementwise(build, _arr(x))

    elif OPS[name].arity == 2:

        def fn(x1, x2):
            return B.elementwise(build, _arr(x1), _arr(x2))

    else:

        def fn(*xs):
            return B.elementwise(build, *(_arr(x) for x in xs))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}, on symbols, numbers and arrays (see symgrad.ir.ops)."
    return fn


_ARITHMETIC = {"add": B.add, "mul": B.mul, "pow": B.pow}  # the builders of the ops spelled as operators


def _arr(x):
    """Lists become arrays; everything else passes through."""
    return np.asarray(x, dtype=object) if isinstance(x, (list, tuple)) else x


# -- the table's ops, one public wrapper each (symgrad.ir.ops says what each one is) -------------

sin = primitive("sin")
cos = primitive("cos")
tan = primitive("tan")
arcsin = primitive("arcsin")
arccos = primitive("arccos")
arctan = primitive("arctan")
sinh = primitive("sinh")
cosh = primitive("cosh")
tanh = primitive("tanh")
exp = primitive("exp")
expm1 = primitive("expm1")
log = primitive("log")
log1p = primitive("log1p")
erf = primitive("erf")
abs = primitive("abs")
sign = primitive("sign")
sigmoid = primitive("sigmoid")
softplus = primitive("softplus")
equal = primitive("eq")
equal.__name__ = "equal"
not_equal = primitive("ne")
not_equal.__name__ = "not_equal"
relu = primitive("relu")
stop_gradient = primitive("stop_gradient")
arctan2 = primitive("arctan2")
maximum = primitive("maximum")
minimum = primitive("minimum")


def sqrt(x):
    """Elementwise square root (a power of 1/2 in the graph)."""
    return B.elementwise(lambda v: B.pow(v, Fraction(1, 2)), _arr(x))


def square(x):
    return B.elementwise(lambda v: B.pow(v, 2), _arr(x))


def log2(x):
    return B.elementwise(lambda v: B.mul(B.call("log", v), 1 / math.log(2)), _arr(x))


def log10(x):
    return B.elementwise(lambda v: B.mul(B.call("log", v), 1 / math.log(10)), _arr(x))


def hypot(a, b):
    """``sqrt(a**2 + b**2)``, elementwise."""
    return B.elementwise(lambda u, v: B.pow(B.add(B.pow(u, 2), B.pow(v, 2)), Fraction(1, 2)), _arr(a), _arr(b))


def _logaddexp(u, v):
    # numpy's form, the larger operand plus softplus(-|u - v|), as a select: each branch is exact on
    # its side (no log of 0, no overflow) and so are its derivatives (1 - sigmoid(v - u), v - u <= 0)
    return B.where(
        B.call("ge", u, v),
        B.add(u, B.call("softplus", B.add(v, B.mul(-1, u)))),
        B.add(v, B.call("softplus", B.add(u, B.mul(-1, v)))),
    )


def logaddexp(a, b):
    """``log(exp(a) + exp(b))`` without overflow or underflow, elementwise."""
    return B.elementwise(_logaddexp, _arr(a), _arr(b))


def logaddexp2(a, b):
    """``log2(2**a + 2**b)`` without overflow or underflow, elementwise."""
    ln2 = math.log(2)
    return B.elementwise(lambda u, v: B.mul(_logaddexp(B.mul(u, ln2), B.mul(v, ln2)), 1 / ln2), _arr(a), _arr(b))


def clip(x, a_min=None, a_max=None):
    """``minimum(maximum(x, a_min), a_max)``; either bound may be None."""
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def logical_and(x1, x2):
    """Elementwise ``x1 and x2`` of conditions (nonzero is true), as numpy's ``&`` on boolean arrays."""
    return B.elementwise(B.logical_and, _arr(x1), _arr(x2))


def logical_or(x1, x2):
    return B.elementwise(B.logical_or, _arr(x1), _arr(x2))


def logical_xor(x1, x2):
    return B.elementwise(lambda a, b: B.binary("xor", a, b), _arr(x1), _arr(x2))


def logical_not(x):
    return B.elementwise(B.logical_not, _arr(x))


def where(cond, a, b):
    """Select ``a`` where ``cond`` holds, else ``b``; branch-free, and nan-safe to differentiate."""
    return B.elementwise(B.where, _arr(cond), _arr(a), _arr(b))


# -- reductions ----------------------------------------------------------------


def _axes(axis, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``axis=`` as distinct non-negative axes, checked as numpy checks it (a 0-d array takes axis 0 or -1)."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    size = max(ndim, 1)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise InputError(f"axis must be an int or a tuple of ints, got {axis!r}")
        if not -size <= a < size:
            dims = f"{ndim} dimension" + ("" if ndim == 1 else "s")
            raise AxisError(f"axis {int(a)} is out of range for an array of shape {shape} ({dims})")
        out.append(int(a) % size)
    if len(set(out)) != len(out):
        raise AxisError(f"axis {axis!r} names an axis twice")
    return tuple(out) if ndim else ()


def _reduce(builder, x, axis, keepdims: bool):
    x = np.asarray(x, dtype=object)
    axes = _axes(axis, x.shape)
    keep = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, keep + list(axes)) if x.ndim else x
    kept_shape = tuple(x.shape[d] for d in keep)
    flat = moved.reshape(kept_shape + (-1,))
    out = np.empty(kept_shape, dtype=object)
    for idx in np.ndindex(*kept_shape):
        out[idx] = builder(*flat[idx])
    if keepdims:
        out = out.reshape(tuple(1 if d in axes else n for d, n in enumerate(x.shape)))
    return out[()] if out.ndim == 0 else out.view(SymbolicArray)


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
    return out[()] if out.ndim == 0 else out.view(SymbolicArray)


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


def vdot(a, b):
    """numpy's ``vdot`` for real values: the sum of the products of the flattened operands."""
    a, b = np.ravel(np.asarray(a, dtype=object)), np.ravel(np.asarray(b, dtype=object))
    if a.size != b.size:
        raise ShapeError(f"vdot: operands of {a.size} and {b.size} elements")
    return sum(B.elementwise(B.mul, a, b))


# numpy's spellings of the arithmetic operators and of real-valued identities, for its ufuncs
def subtract(a, b):
    return B.elementwise(lambda u, v: B.add(u, B.mul(-1, v)), _arr(a), _arr(b))


def divide(a, b):
    return B.elementwise(lambda u, v: B.mul(u, B.pow(v, -1)), _arr(a), _arr(b))


def negative(x):
    return B.elementwise(lambda v: B.mul(-1, v), _arr(x))


def positive(x):
    return B.elementwise(B.as_node, _arr(x))


def reciprocal(x):
    return B.elementwise(lambda v: B.pow(v, -1), _arr(x))


def log_sigmoid(x):
    """``log(sigmoid(x))``, built as ``-softplus(-x)`` (scipy.special.log_expit)."""
    return log(sigmoid(x))


def is_symbolic(x) -> bool:
    """Whether ``x`` is a node or an array holding one."""
    if isinstance(x, Node):
        return True
    if isinstance(x, np.ndarray) and x.dtype == object:
        return any(isinstance(v, Node) for v in x.flat)
    return False


@dataclass(frozen=True)
class Composite:
    """A public function that is not a primitive: how the formula parser and numpy's ufuncs reach it."""

    fn: Callable
    min_args: int
    max_args: int
    keywords: frozenset[str] = frozenset()
    ufuncs: tuple[str, ...] = ()  # numpy / scipy.special ufuncs answering with it
    formula: bool = True  # callable by name in formulas (and then exported as sg.<name>)


_REDUCTION_KEYWORDS = frozenset({"axis", "keepdims"})

COMPOSITES: dict[str, Composite] = {
    "sqrt": Composite(sqrt, 1, 1, ufuncs=("sqrt",)),
    "square": Composite(square, 1, 1, ufuncs=("square",)),
    "log2": Composite(log2, 1, 1, ufuncs=("log2",)),
    "log10": Composite(log10, 1, 1, ufuncs=("log10",)),
    "hypot": Composite(hypot, 2, 2, ufuncs=("hypot",)),
    "logaddexp": Composite(logaddexp, 2, 2, ufuncs=("logaddexp",)),
    "logaddexp2": Composite(logaddexp2, 2, 2, ufuncs=("logaddexp2",)),
    "clip": Composite(clip, 3, 3),
    "dot": Composite(dot, 2, 2),
    "matmul": Composite(matmul, 2, 2, ufuncs=("matmul",)),
    "sum": Composite(sum, 1, 1, _REDUCTION_KEYWORDS),
    "mean": Composite(mean, 1, 1, _REDUCTION_KEYWORDS),
    "prod": Composite(prod, 1, 1, _REDUCTION_KEYWORDS),
    "logsumexp": Composite(logsumexp, 1, 1, _REDUCTION_KEYWORDS),
    "softmax": Composite(softmax, 1, 1, frozenset({"axis"})),
    "log_softmax": Composite(log_softmax, 1, 1, frozenset({"axis"})),
    # reached through numpy only: a formula writes the operator
    "subtract": Composite(subtract, 2, 2, ufuncs=("subtract",), formula=False),
    "divide": Composite(divide, 2, 2, ufuncs=("divide", "true_divide"), formula=False),
    "negative": Composite(negative, 1, 1, ufuncs=("negative",), formula=False),
    "positive": Composite(positive, 1, 1, ufuncs=("positive",), formula=False),
    "reciprocal": Composite(reciprocal, 1, 1, ufuncs=("reciprocal",), formula=False),
    "conjugate": Composite(positive, 1, 1, ufuncs=("conjugate",), formula=False),  # values are real
    "log_sigmoid": Composite(log_sigmoid, 1, 1, ufuncs=("log_expit",), formula=False),
    "vdot": Composite(vdot, 2, 2, formula=False),
    # numpy's & | ^ ~ on boolean arrays are the bitwise ufuncs; on conditions they are logical
    "logical_and": Composite(logical_and, 2, 2, ufuncs=("logical_and", "bitwise_and")),
    "logical_or": Composite(logical_or, 2, 2, ufuncs=("logical_or", "bitwise_or")),
    "logical_xor": Composite(logical_xor, 2, 2, ufuncs=("logical_xor", "bitwise_xor")),
    "logical_not": Composite(logical_not, 1, 1, ufuncs=("logical_not", "invert")),
}
"""The composite public functions by name; the primitives' are in :data:`symgrad.ir.ops.OPS`."""
