"""The math a user writes: symbols, numpy-named functions, reductions, softmax.

Scalars are :class:`~symgrad.ir.Node` objects; arrays are numpy object arrays
of nodes, so indexing, slicing, ``.T``, ``.shape``, broadcasting and ``@`` are
numpy's own.  Every function here accepts nodes, numbers, numeric arrays and
arrays of nodes alike, and numpy's ufuncs (``np.sin(x)``) route here too.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import string
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import AxisError, InputError, ShapeError, SymbolNameError, UnsupportedOpError
from ..ir import builders as B
from ..ir import softmax as S
from ..ir.array import BooleanArray, SymbolicArray, boolean_array
from ..ir.node import Node, symbol
from ..ir.ops import OPS
from .pytree import tree_map

MAX_SYMBOL_ELEMENTS = 10**6
"""Largest array symbol: each element is a node (about 200 bytes, a microsecond to make), and code for more
symbolic scalars than this could not be generated in reasonable time anyway."""
MAX_NDIM = 32
"""Most dimensions of an array symbol (numpy's iterators handle at most 32)."""


def symbols(names, shape: tuple[int, ...] | int | None = None, *, seq: bool = False, **assumptions):
    """``symbols("x y")`` -> scalar symbols; ``symbols("a", shape=(2,))`` -> an array symbol.

    sympy's syntax: commas or spaces separate names, ``"x:3"`` is ``x0, x1, x2``,
    ``"x0:2 y"`` is ``x0, x1, y``, ``"a:c"`` is ``a, b, c`` (letters inclusive),
    ``"x(1:3)"`` is ``x1, x2``; a range, a trailing comma or ``seq=True`` always
    gives a tuple.
    ``real=True`` (and ``commutative``, ``finite``) is accepted: every symbol is
    real; other sympy assumptions (``positive=True``...) are refused by name.
    """
    _check_assumptions(assumptions)
    if not isinstance(names, str):
        raise InputError(f"symbols() takes a string of names such as 'x y', got {type(names).__name__}")
    text = names.strip()
    if text.endswith(","):
        seq, text = True, text[:-1]
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise SymbolNameError(f"symbols() needs at least one name, got {names!r}")
    expanded = [_expand_range(p) for p in parts]
    seq = seq or any(":" in p for p in parts)
    flat = [n for group in expanded for n in group]
    for p in flat:
        if not p.isidentifier():
            raise SymbolNameError(f"symbol names must be identifiers (like x, x1, alpha), got {p!r}")
    if shape is None:
        made = [symbol(p) for p in flat]
    else:
        made = [array_symbol(p, check_shape(shape, p)) for p in flat]
    return made[0] if len(made) == 1 and not seq else tuple(made)


_HONOURED = frozenset({"real", "commutative", "finite"})  # true of every symgrad symbol
# fmt: off
_SYMPY_ASSUMPTIONS = frozenset({
    "algebraic", "antihermitian", "commutative", "complex", "composite", "even", "extended_negative",
    "extended_nonnegative", "extended_nonpositive", "extended_nonzero", "extended_positive", "extended_real",
    "finite", "hermitian", "imaginary", "infinite", "integer", "irrational", "negative", "noninteger",
    "nonnegative", "nonpositive", "nonzero", "odd", "positive", "prime", "rational", "real", "transcendental", "zero",
})
# fmt: on
_RANGE = re.compile(r"([0-9]*:[0-9]+|[a-zA-Z]?:[a-zA-Z])")


def _check_assumptions(assumptions: dict) -> None:
    for key, value in assumptions.items():
        if key in _HONOURED and value is True:
            continue
        if key in _SYMPY_ASSUMPTIONS:
            raise InputError(
                f"symbols(): the assumption {key}={value!r} is not supported: symgrad's symbols are real numbers "
                "with no further assumptions (real=True is accepted), and no simplification depends on a sign; "
                "convert with sg.to_sympy to reason with sympy's assumptions"
            )
        close = difflib.get_close_matches(key, ["shape", "seq", *sorted(_SYMPY_ASSUMPTIONS)], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"symbols() got an unknown keyword {key!r}{hint}; it takes shape=, seq= and real=True")


def _expand_range(name: str) -> list[str]:
    """sympy's ranges in one name: ``x:3`` -> x0 x1 x2, ``a:c`` -> a b c, ``x(1:3)y`` -> x1y x2y."""
    if ":" not in name:
        return [name]
    pieces = _RANGE.split(name)
    for i in range(1, len(pieces) - 1):  # one layer of parentheses around a range is dropped
        if ":" in pieces[i] and pieces[i - 1].endswith("(") and pieces[i + 1].startswith(")"):
            pieces[i - 1], pieces[i + 1] = pieces[i - 1][:-1], pieces[i + 1][1:]
    choices: list[list[str]] = []
    for piece in pieces:
        if ":" not in piece:
            choices.append([piece])
            continue
        if piece.endswith(":") or piece.count(":") != 1:
            raise SymbolNameError(f"symbols(): the range {piece!r} in {name!r} has no end")
        lo, hi = piece.split(":")
        if hi[-1].isdigit():
            start, stop = (int(lo) if lo else 0), int(hi)
            if stop - start > MAX_SYMBOL_ELEMENTS:
                raise InputError(f"symbols(): the range {piece!r} makes more than {MAX_SYMBOL_ELEMENTS:,} symbols")
            choices.append([str(i) for i in range(start, stop)])
        else:
            letters = string.ascii_letters
            choices.append(list(letters[letters.index(lo or "a") : letters.index(hi) + 1]))
        if not choices[-1]:
            return []  # an empty range (x:0) makes no symbols, as in sympy
    if math.prod(len(c) for c in choices) > MAX_SYMBOL_ELEMENTS:
        raise InputError(f"symbols(): {name!r} makes more than {MAX_SYMBOL_ELEMENTS:,} symbols")
    return ["".join(combo) for combo in itertools.product(*choices)]


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
    build = _ARITHMETIC.get(name) or functools.partial(B.call, name)
    typed = boolean_array if OPS[name].condition else _as_built  # numpy types a condition's array bool
    # a fixed signature, as numpy names its ufuncs' operands: sg.grad(sg.sin) traces one argument
    if OPS[name].arity == 1:

        def fn(x):
            if x.__class__ is Node:  # the common case in a traced loop: no array machinery
                return build(x)
            return typed(B.elementwise(build, _arr(x)))

    elif OPS[name].arity == 2:

        def fn(x1, x2):
            return typed(B.elementwise(build, _arr(x1), _arr(x2)))

    else:

        def fn(*xs):
            return typed(B.elementwise(build, *(_arr(x) for x in xs)))

    fn.__name__ = OPS[name].public or name  # sg.equal is the op "eq"
    fn.__doc__ = f"Elementwise {fn.__name__}, on symbols, numbers and arrays (see symgrad.ir.ops)."
    return fn


_ARITHMETIC = {"add": B.add, "mul": B.mul, "pow": B.pow}  # the builders of the ops spelled as operators


def _as_built(value):
    return value


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
arcsinh = primitive("arcsinh")
arccosh = primitive("arccosh")
arctanh = primitive("arctanh")
sinh = primitive("sinh")
cosh = primitive("cosh")
tanh = primitive("tanh")
exp = primitive("exp")
expm1 = primitive("expm1")
exp2 = primitive("exp2")
log = primitive("log")
log1p = primitive("log1p")
log2 = primitive("log2")
log10 = primitive("log10")
erf = primitive("erf")
erfc = primitive("erfc")
cbrt = primitive("cbrt")
sinc = primitive("sinc")
abs = primitive("abs")
sign = primitive("sign")
sigmoid = primitive("sigmoid")
softplus = primitive("softplus")
equal = primitive("eq")
not_equal = primitive("ne")
isnan = primitive("isnan")
isinf = primitive("isinf")
isfinite = primitive("isfinite")
relu = primitive("relu")
logaddexp = primitive("logaddexp")  # log(exp(a) + exp(b)) without overflow or underflow
logaddexp2 = primitive("logaddexp2")  # log2(2**a + 2**b) likewise
_stop_gradient = primitive("stop_gradient")


def _holds_arrays(x) -> bool:
    """Whether ``x`` is a pytree of arrays (a dict, or a list/tuple holding one or an array), not one array as a list."""
    if isinstance(x, dict):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(v, np.ndarray) or _holds_arrays(v) for v in x)


def stop_gradient(x):
    """``x`` with derivative zero; a pytree of arrays (``params``) leaf by leaf, as ``jax.lax.stop_gradient``."""
    if _holds_arrays(x):
        return tree_map(_stop_gradient, x, is_leaf=lambda v: isinstance(v, np.ndarray))
    return _stop_gradient(x)


arctan2 = primitive("arctan2")
hypot = primitive("hypot")
maximum = primitive("maximum")
minimum = primitive("minimum")


def sqrt(x):
    """Elementwise square root (a power of 1/2 in the graph)."""
    return B.elementwise(lambda v: B.pow(v, Fraction(1, 2)), _arr(x))


def square(x):
    return B.elementwise(lambda v: B.pow(v, 2), _arr(x))


def clip(x, a_min=None, a_max=None, out=None, *, min=None, max=None):
    """``minimum(maximum(x, a_min), a_max)``; either bound may be None (``min=``/``max=``: numpy 2's names for them)."""
    _refuse_numeric_options("sg.clip", out=out)
    a_min = _one_bound(a_min, min, "a_min", "min")
    a_max = _one_bound(a_max, max, "a_max", "max")
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def _one_bound(positional, keyword, name: str, alias: str):
    """A clip bound given by numpy's old name or its new one (not both, as numpy refuses)."""
    if positional is np._NoValue:
        positional = None
    if keyword is None or keyword is np._NoValue:
        return positional
    if positional is not None:
        raise InputError(f"sg.clip: give {name}= or {alias}=, not both")
    return keyword


def logical_and(x1, x2):
    """Elementwise ``x1 and x2`` of conditions (nonzero is true), as numpy's ``&`` on boolean arrays."""
    return boolean_array(B.elementwise(B.logical_and, _arr(x1), _arr(x2)))


def logical_or(x1, x2):
    return boolean_array(B.elementwise(B.logical_or, _arr(x1), _arr(x2)))


def logical_xor(x1, x2):
    return boolean_array(B.elementwise(lambda a, b: B.binary("xor", a, b), _arr(x1), _arr(x2)))


def logical_not(x):
    return boolean_array(B.elementwise(B.logical_not, _arr(x)))


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
    flat = moved.reshape(kept_shape + (math.prod(x.shape[d] for d in axes),))  # not -1: kept_shape may hold a 0
    out = np.empty(kept_shape, dtype=object)
    for idx in np.ndindex(*kept_shape):
        out[idx] = builder(*flat[idx])
    if keepdims:
        out = out.reshape(tuple(1 if d in axes else n for d, n in enumerate(x.shape)))
    return out[()] if out.ndim == 0 else out.view(SymbolicArray)


def _refuse_numeric_options(fn: str, dtype=None, out=None, where=None) -> None:
    """numpy's options that would write into a buffer, change the float type or mask: refused, naming ``fn``."""
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise UnsupportedOpError(
            f"{fn}(out=...)", hint="A symbolic result cannot be written into a numeric buffer: use the result."
        )
    if dtype is not None and dtype is not object and not _is_object_dtype(dtype):
        raise UnsupportedOpError(
            f"{fn}(dtype=...)", hint="The compiled function's dtype= (float64 or float32) sets the float type."
        )
    if where is not None and where is not True and where is not np._NoValue:
        raise UnsupportedOpError(f"{fn}(where=...)", hint="Mask with sg.where(cond, x, 0) before reducing.")


def _is_object_dtype(dtype) -> bool:
    try:
        return np.dtype(dtype) == np.dtype(object)
    except TypeError:  # not a dtype at all: refused with the rest
        return False


def _with_initial(builder, initial):
    if initial is None or initial is np._NoValue:
        return builder
    return lambda *v: builder(*v, initial)


def sum(x, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None):
    """Sum of elements (numpy's ``sum``) as one n-ary node per output element."""
    _refuse_numeric_options("sg.sum", dtype, out, where)
    return _reduce(_with_initial(B.add, initial), x, axis, keepdims)


def prod(x, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None):
    """Product of elements (numpy's ``prod``) as one n-ary node per output element."""
    _refuse_numeric_options("sg.prod", dtype, out, where)
    return _reduce(_with_initial(B.mul, initial), x, axis, keepdims)


def _count(x: np.ndarray, axis) -> int:
    """How many elements each output of a reduction over ``axis`` takes."""
    return math.prod(x.shape[d] for d in _axes(axis, x.shape))


def _scaled(values, factor):
    return B.elementwise(lambda t: B.mul(t, factor), values)


def mean(x, axis=None, dtype=None, out=None, keepdims: bool = False, *, where=None):
    """The mean (numpy's ``mean``): the sum times 1/n, exactly; nan over no elements, as numpy gives."""
    _refuse_numeric_options("sg.mean", dtype, out, where)
    x = np.asarray(x, dtype=object)
    count = _count(x, axis)
    return _scaled(_reduce(B.add, x, axis, keepdims), Fraction(1, count) if count else math.nan)


def _ddof(ddof, correction, fn: str):
    if correction is not None and correction is not np._NoValue:
        if ddof != 0:
            raise InputError(f"{fn}: give ddof= or correction=, not both")
        ddof = correction
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise InputError(f"{fn}: ddof must be a number (the degrees of freedom subtracted), got {ddof!r}")
    return ddof


def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims: bool = False, *, where=None, mean=None, correction=None):
    """The variance (numpy's ``var``): ``sum((x - mean(x))**2) / (n - ddof)``; inf or nan when n <= ddof, as numpy."""
    _refuse_numeric_options("sg.var", dtype, out, where)
    if mean is not None and mean is not np._NoValue:
        raise UnsupportedOpError("sg.var(mean=...)", hint="The mean is computed symbolically; leave mean= out.")
    ddof = _ddof(ddof, correction, "sg.var")
    x = np.asarray(x, dtype=object)
    count = _count(x, axis)
    dof = count - ddof
    if dof <= 0:
        factor = math.inf  # numpy divides by max(n - ddof, 0): inf, or nan for 0/0
    else:
        factor = Fraction(1, int(dof)) if float(dof).is_integer() else 1 / dof
    if 2 <= count <= B.DISTRIBUTE_LIMIT:
        # the mean's 1/n distributes over so short a sum and x - mean collects (x - (x + y + z)/3 is
        # 2*x/3 - y/3 - z/3), each term rounded at the data's magnitude: var([1e8 + 1, 1e8 + 2, 1e8 + 3])
        # was off by 4e-9. sum((x - mean)**2) is sum over pairs of (x_i - x_j)**2 / n: exact differences
        return _scaled(_reduce(_pairwise_squares, x, axis, keepdims), factor / count)
    centred = subtract(x, _scaled(_reduce(B.add, x, axis, True), Fraction(1, count) if count else math.nan))
    squares = _reduce(B.add, B.elementwise(lambda v: B.pow(v, 2), centred), axis, keepdims)
    return _scaled(squares, factor)


def _pairwise_squares(*values):
    return B.add(*(B.pow(B.add(u, B.mul(-1, v)), 2) for u, v in itertools.combinations(values, 2)))


def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims: bool = False, *, where=None, mean=None, correction=None):
    """The standard deviation (numpy's ``std``), ``sqrt(var(...))``; its derivative is nan where var is 0, as JAX's."""
    _refuse_numeric_options("sg.std", dtype, out, where)
    if mean is not None and mean is not np._NoValue:
        raise UnsupportedOpError("sg.std(mean=...)", hint="The mean is computed symbolically; leave mean= out.")
    return sqrt(var(x, axis, ddof=ddof, keepdims=keepdims, correction=correction))


def _ignoring_nan(name: str) -> Callable:
    """numpy's fmax / fmin of two values: ``name`` (maximum, minimum) of them, or the one that is not nan."""

    def pick(u, v):
        return B.where(B.call("isnan", u), v, B.where(B.call("isnan", v), u, B.call(name, u, v)))

    return pick


_FMAX, _FMIN = _ignoring_nan("maximum"), _ignoring_nan("minimum")


def fmax(x1, x2):
    """numpy's ``fmax``: the larger of two values, the other where one is nan (``maximum`` propagates it)."""
    return B.elementwise(_FMAX, _arr(x1), _arr(x2))


def fmin(x1, x2):
    """numpy's ``fmin``: the smaller of two values, the other where one is nan."""
    return B.elementwise(_FMIN, _arr(x1), _arr(x2))


def fmax_reduce(x, axis=None, keepdims: bool = False, initial=None):
    """``np.fmax.reduce``: the largest element, nans ignored (nan only where every element is)."""
    return _extremum(_FMAX, "fmax", x, axis, keepdims, initial)


def fmin_reduce(x, axis=None, keepdims: bool = False, initial=None):
    """``np.fmin.reduce``: the smallest element, nans ignored."""
    return _extremum(_FMIN, "fmin", x, axis, keepdims, initial)


def _extremum(name: str | Callable, what: str, x, axis, keepdims, initial):
    x = np.asarray(x, dtype=object)
    if (initial is None or initial is np._NoValue) and _count(x, axis) == 0:
        raise ShapeError(f"sg.{what} of no elements (shape {x.shape}, axis={axis!r}): give initial=, as numpy asks")
    return _reduce(_with_initial(lambda *v: B.balanced(name, v), initial), x, axis, keepdims)


def amax(x, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """The largest element (numpy's ``max``): a balanced tree of ``maximum``.

    Each pairwise ``maximum`` splits the gradient equally at a tie (JAX's convention), so a
    tie of two elements shares it equally; see README's conventions for more ties.
    """
    _refuse_numeric_options("sg.max", out=out, where=where)
    return _extremum("maximum", "max", x, axis, keepdims, initial)


def amin(x, axis=None, out=None, keepdims: bool = False, initial=None, where=None):
    """The smallest element (numpy's ``min``): a balanced tree of ``minimum``, ties as :func:`amax`."""
    _refuse_numeric_options("sg.min", out=out, where=where)
    return _extremum("minimum", "min", x, axis, keepdims, initial)


def scan(step, x, axis, fn: str):
    """``out[i] = step(out[i - 1], x[i])`` along ``axis`` (numpy's ``accumulate``); ``axis=None`` flattens first."""
    x = np.asarray(x, dtype=object)
    if axis is None:
        x, axis = x.reshape(-1), 0
    elif isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InputError(f"{fn}: axis must be an int or None, got {axis!r}")
    elif x.ndim == 0:
        x = x.reshape(1)  # numpy's cumsum of a 0-d array along axis 0 is the 1-element array
    (ax,) = _axes(axis, x.shape)
    moved = np.moveaxis(x, ax, 0)
    out = np.empty(moved.shape, dtype=object)
    for i in range(moved.shape[0]):
        out[i] = moved[i] if i == 0 else step(out[i - 1], moved[i])
    return np.moveaxis(out, 0, ax).view(SymbolicArray)


def cumsum(x, axis=None, dtype=None, out=None):
    """Cumulative sums along ``axis`` (numpy's ``cumsum``; ``axis=None``: of the flattened array)."""
    _refuse_numeric_options("sg.cumsum", dtype, out)
    return scan(lambda u, v: B.elementwise(B.add, u, v), x, axis, "sg.cumsum")


def cumprod(x, axis=None, dtype=None, out=None):
    """Cumulative products along ``axis`` (numpy's ``cumprod``); no division, so zeros are exact."""
    _refuse_numeric_options("sg.cumprod", dtype, out)
    return scan(lambda u, v: B.elementwise(B.mul, u, v), x, axis, "sg.cumprod")


def _boolean_operand(value) -> bool:
    """Whether ``value`` (an operand, a list of them) holds an array numpy types bool."""
    if isinstance(value, np.ndarray):
        return value.dtype == bool or isinstance(value, BooleanArray)
    return isinstance(value, (list, tuple)) and any(_boolean_operand(v) for v in value)


def _stand_in(value):
    """A number or numeric array numpy types as it would the symbolic ``value``: bool for booleans, else float."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.ones(value.shape, dtype=bool if isinstance(value, BooleanArray) else float)
    if isinstance(value, Node):
        return np.True_ if B.is_boolean(value) else 1.0
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_stand_in(v) for v in value)
    return value


def _typed(result, reference):
    """``result`` typed as numpy's ``reference`` (the same call on stand-ins): where that is bool, truths, boolean."""
    if isinstance(result, (list, tuple)) and isinstance(reference, (list, tuple)) and len(result) == len(reference):
        return type(result)(_typed(r, ref) for r, ref in zip(result, reference))
    symbolic = isinstance(result, Node) or (isinstance(result, np.ndarray) and result.dtype == object)
    if not symbolic or isinstance(result, BooleanArray) or getattr(reference, "dtype", None) != bool:
        return result
    return boolean_array(B.elementwise(lambda v: v if B.is_boolean(v) else B.truth(v), result))


def numpy_typed(result, numpy_call: Callable, args, kwargs=None):
    """``result`` (of a call on ``args``) typed as numpy types ``numpy_call(*args, **kwargs)``.

    numpy keeps bool for bool operands in np.maximum, np.where, np.outer, np.kron, np.stack, np.reshape, and
    in the matrix products (a logical or of logical ands), and makes them numbers in np.sum, np.cumsum,
    np.mean: its own call on numeric stand-ins of the operands' dtypes is that rule, for symgrad's functions
    and numpy's implementations alike (a later ``+`` of the result is a logical or exactly when numpy's is).
    Nothing is asked when no operand is boolean.
    """
    kwargs = kwargs or {}
    if not (_boolean_operand(args) or _boolean_operand(tuple(kwargs.values()))):
        return result
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = numpy_call(*_stand_in(args), **{k: _stand_in(v) for k, v in kwargs.items()})
    except (TypeError, ValueError, IndexError, AttributeError, ArithmeticError):  # numpy refuses it on numbers
        reference = None
    return _typed(result, reference)


def matmul(a, b):
    """Matrix product with numpy's rules for 1-D and stacked operands; n-ary sums inside."""
    operands = (a, b)
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
    return numpy_typed(out[()] if out.ndim == 0 else out.view(SymbolicArray), np.matmul, operands)


def dot(a, b):
    """numpy's ``dot``: products for scalars, matmul up to 2-D, else sums over a's last and b's second-to-last axis."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return B.elementwise(B.mul, _arr(a), _arr(b))
    if np.ndim(a) <= 2 and np.ndim(b) <= 2:
        return matmul(a, b)
    from .linalg import tensordot  # linalg builds on this module

    return tensordot(a, b, axes=([np.ndim(a) - 1], [max(np.ndim(b) - 2, 0)]))


def _along(slice_fn, x, axis) -> np.ndarray:
    """``slice_fn`` (n values -> n values) applied to each slice of ``x`` along ``axis`` (None: all of x)."""
    x = np.asarray(x, dtype=object)
    axes = _axes(axis, x.shape)
    keep = [d for d in range(x.ndim) if d not in axes]
    order = keep + list(axes)
    moved = np.transpose(x, order) if x.ndim else x.reshape(1)
    kept_shape = tuple(x.shape[d] for d in keep)
    flat = moved.reshape(kept_shape + (math.prod(x.shape[d] for d in axes),))
    out = np.empty(flat.shape, dtype=object)
    for idx in np.ndindex(*kept_shape) if flat.shape[-1] else ():  # an empty slice has nothing to compute
        out[idx] = slice_fn(list(flat[idx]))
    if not x.ndim:
        return out[0]
    out = np.transpose(out.reshape(moved.shape), np.argsort(order))
    return out.view(SymbolicArray)


def _logsumexp_of(values) -> Node:
    return S.logsumexp(values) if values else B.as_node(-math.inf)  # log(0), as scipy gives for no values


def logsumexp(x, axis=None, keepdims: bool = False):
    """``log(sum(exp(x)))`` (scipy's ``logsumexp``), printed by name.

    One ``logsumexp`` node per output: it prints as ``logsumexp(z)``, its partials
    are ``softmax(z)[j]``, and the generated code shifts by the maximum so it never
    overflows.
    """
    return _reduce(lambda *v: _logsumexp_of(v), x, axis, keepdims)


def softmax(x, axis: int | None = -1):
    """``exp(x_i) / sum_j exp(x_j)`` along ``axis`` (scipy's ``softmax``), printed ``softmax(z)[i]``.

    Each element is ``exp(x_i - logsumexp(x))`` over one shared ``logsumexp`` node, so
    the derivatives come out as ``softmax_i (delta_ij - softmax_j)`` and the code is stable.
    """
    return _along(S.softmax, x, axis)


def log_softmax(x, axis: int | None = -1):
    """``x_i - logsumexp(x)`` along ``axis`` (scipy's ``log_softmax``), printed ``log_softmax(z)[i]``."""
    return _along(S.log_softmax, x, axis)


def vdot(a, b):
    """numpy's ``vdot`` for real values: the sum of the products of the flattened operands."""
    operands = (a, b)
    a, b = np.ravel(np.asarray(a, dtype=object)), np.ravel(np.asarray(b, dtype=object))
    if a.size != b.size:
        raise ShapeError(f"vdot: operands of {a.size} and {b.size} elements")
    return numpy_typed(sum(B.elementwise(B.mul, a, b)), np.vdot, operands)


def vecdot(x1, x2, axis=-1):
    """numpy 2's ``vecdot`` for real values: the dot products along ``axis``, the other axes broadcast (a matmul)."""
    a, b = np.asarray(x1, dtype=object), np.asarray(x2, dtype=object)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"vecdot needs arrays of at least one dimension, got shapes {a.shape} and {b.shape}")
    (i,), (j,) = _axes(axis, a.shape), _axes(axis, b.shape)
    if a.shape[i] != b.shape[j]:
        raise ShapeError(f"vecdot: axis {axis} of shapes {a.shape} and {b.shape} differ in size")
    out = matmul(np.moveaxis(a, i, -1)[..., None, :], np.moveaxis(b, j, -1)[..., :, None])
    return out[..., 0, 0][()]  # matmul typed it: a boolean pair's dot products are truths


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
    """Elementwise ``1/x`` (numpy's ``reciprocal``, a power of -1 in the graph)."""
    return B.elementwise(lambda v: B.pow(v, -1), _arr(x))


def log_sigmoid(x):
    """``log(sigmoid(x))``, built as ``-softplus(-x)`` (scipy.special.log_expit)."""
    return log(sigmoid(x))


def is_symbolic(x) -> bool:
    """Whether ``x`` is a node, an array holding one, or a traced array (a SymbolicArray, even one with no elements).

    A traced argument of shape (0,) holds no node but is still symbolic: a compiled
    function called on it inside another trace composes (an empty result), where
    the numeric call would refuse its object dtype.
    """
    if isinstance(x, (Node, SymbolicArray)):
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


def _linalg(name: str) -> Callable:
    """The formula parser's handle on :mod:`symgrad.tracing.linalg`'s ``name`` (that module builds on this one)."""

    def fn(*args, **kwargs):
        from . import linalg

        return getattr(linalg, name)(*args, **kwargs)

    fn.__name__ = name
    return fn


COMPOSITES: dict[str, Composite] = {
    "sqrt": Composite(sqrt, 1, 1, ufuncs=("sqrt",)),
    "square": Composite(square, 1, 1, ufuncs=("square",)),
    "clip": Composite(clip, 3, 3),
    "dot": Composite(dot, 2, 2),
    "matmul": Composite(matmul, 2, 2, ufuncs=("matmul",)),
    "sum": Composite(sum, 1, 1, _REDUCTION_KEYWORDS),
    "mean": Composite(mean, 1, 1, _REDUCTION_KEYWORDS),
    "prod": Composite(prod, 1, 1, _REDUCTION_KEYWORDS),
    "amax": Composite(amax, 1, 1, _REDUCTION_KEYWORDS),
    "amin": Composite(amin, 1, 1, _REDUCTION_KEYWORDS),
    "var": Composite(var, 1, 1, _REDUCTION_KEYWORDS | {"ddof"}),
    "std": Composite(std, 1, 1, _REDUCTION_KEYWORDS | {"ddof"}),
    "cumsum": Composite(cumsum, 1, 1, frozenset({"axis"})),
    "cumprod": Composite(cumprod, 1, 1, frozenset({"axis"})),
    "det": Composite(_linalg("det"), 1, 1),
    "inv": Composite(_linalg("inv"), 1, 1),
    "trace": Composite(_linalg("trace"), 1, 1),
    "logsumexp": Composite(logsumexp, 1, 1, _REDUCTION_KEYWORDS),
    "softmax": Composite(softmax, 1, 1, frozenset({"axis"})),
    "log_softmax": Composite(log_softmax, 1, 1, frozenset({"axis"})),
    # reached through numpy only: a formula writes the operator
    "subtract": Composite(subtract, 2, 2, ufuncs=("subtract",), formula=False),
    "fmax": Composite(fmax, 2, 2, ufuncs=("fmax",), formula=False),
    "fmin": Composite(fmin, 2, 2, ufuncs=("fmin",), formula=False),
    "divide": Composite(divide, 2, 2, ufuncs=("divide", "true_divide"), formula=False),
    "negative": Composite(negative, 1, 1, ufuncs=("negative",), formula=False),
    "positive": Composite(positive, 1, 1, ufuncs=("positive",), formula=False),
    "reciprocal": Composite(reciprocal, 1, 1, ufuncs=("reciprocal",)),
    "conjugate": Composite(positive, 1, 1, ufuncs=("conjugate",), formula=False),  # values are real
    "log_sigmoid": Composite(log_sigmoid, 1, 1, ufuncs=("log_expit",), formula=False),
    "vdot": Composite(vdot, 2, 2, formula=False),
    "vecdot": Composite(vecdot, 2, 2, ufuncs=("vecdot",), formula=False),
    # numpy's & | ^ ~ on boolean arrays are the bitwise ufuncs; on conditions they are logical
    "logical_and": Composite(logical_and, 2, 2, ufuncs=("logical_and", "bitwise_and")),
    "logical_or": Composite(logical_or, 2, 2, ufuncs=("logical_or", "bitwise_or")),
    "logical_xor": Composite(logical_xor, 2, 2, ufuncs=("logical_xor", "bitwise_xor")),
    "logical_not": Composite(logical_not, 1, 1, ufuncs=("logical_not", "invert")),
}
"""The composite public functions by name; the primitives' are in :data:`symgrad.ir.ops.OPS`."""
