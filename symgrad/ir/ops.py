"""The table of primitives: each op defined once, with everything every layer needs.

An :class:`Op` entry is the one place an op is known.  It holds

- its math: the numpy reference implementation (constant folding, the reference
  interpreter, the tests' oracle) and its partial derivatives, built with the
  simplifying builders passed in as ``B`` (so this table imports no layer above it);
- its spelling for every backend: ``numpy`` (statements writing into the
  preallocated buffer ``{out}``; ``{0}``, ``{1}`` are operands), ``python`` (a
  scalar expression, the fast path for floats), ``cuda`` (a C expression shared
  by the C and CUDA frames), ``text`` (``str()``), ``sympy`` (the constructor,
  and ``sympy_types``, the sympy classes that convert back to this op one to one);
- its names: ``public`` (the ``sg.`` function and formula-parser name),
  ``aliases`` (other parser spellings), ``ufuncs`` (the numpy/scipy ufuncs that
  call it on symbols), ``operator`` (the Python operator, for ops without a
  function);
- the ``helpers`` its spellings call (a C definition, or a Python function in the
  generated code's namespace), emitted only into kernels that use the op;
- build-time rewrites (``undoes``, ``idempotent``, ``parity``, ``rewrites``) and a sampling
  hint for the tests (``domain``, or explicit ``samples`` away from kinks).

The parser's names, the ufunc map, the sympy handlers, the C helpers and the
scalar namespace are all derived from this table.  ``add``/``mul``/``pow`` are
spelled by the printer's hooks (:mod:`symgrad.codegen.printer`), since their
form depends on their operands.  To add an op: one entry here, its one-line
wrapper in :mod:`symgrad.tracing.functions`, and its export in ``symgrad/__init__.py``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

Partials = Callable[..., tuple]
Rewrite = Callable[..., object]


@dataclass(frozen=True)
class Helper:
    """Code a spelling calls, shipped only with kernels that use the op.

    ``backend`` is ``"c"`` (``code`` is a C definition, shared by the C and CUDA
    frames) or ``"python"`` (``code`` is a function the generated numpy and
    scalar Python code find under ``name``).
    """

    name: str
    backend: str
    code: str | Callable


@dataclass(frozen=True)
class Op:
    """One primitive: its math, its spelling for every backend, its names and helpers (see the module doc)."""

    name: str
    arity: int  # -1 for n-ary
    ref: Callable[..., np.ndarray]
    partials: Partials
    text: str = ""
    numpy: str = ""
    python: str = ""
    cuda: str = ""
    sympy: Callable | None = None
    sympy_types: tuple[str, ...] = ()  # sympy class names converted back to this op one to one
    public: str = ""  # the sg.<public> function and parser name ("" for operator-only ops)
    aliases: tuple[str, ...] = ()  # other formula-parser spellings
    ufuncs: tuple[str, ...] = ()  # numpy / scipy.special ufuncs answering with this op
    operator: str = ""  # the Python operator building it, for ops reached without a function
    helpers: tuple[Helper, ...] = ()
    commutative: bool = False
    idempotent: bool = False  # op(op(x)) == op(x), folded by the builders
    undoes: str = ""  # op(undone(x)) == x for every real x (log undoes exp), folded by the builders
    parity: str = ""  # "odd" (op(-x) == -op(x)) or "even" (op(-x) == op(x)), exactly in floats: the builders
    condition: bool = False  # its value is a truth value (0 or 1), which numpy types bool: comparisons, isnan
    # take a minus sign out as sympy does (sin(-x) -> -sin(x), cos(-x) -> cos(x))
    rewrites: tuple[tuple[str, Rewrite], ...] = ()  # (inner op, (B, *inner args) -> node): op(inner(u)) rebuilt
    domain: tuple[float, float] = (-2.0, 2.0)  # where the tests sample every operand
    samples: tuple[tuple[float, ...], ...] = ()  # explicit test points (ops with kinks or branch cuts)


# -- helpers: numpy's rules where C's or Python's differ, stable forms -------------------------

_C_MAX = Helper(
    "sg_max",
    "c",
    "SG_FN real sg_max(real a, real b) { return (a > b || a != a) ? a : b; } /* nan wins; a tie (0, -0) gives b, as numpy */",
)
_C_MIN = Helper(
    "sg_min",
    "c",
    "SG_FN real sg_min(real a, real b) { return (a < b || a != a) ? a : b; } /* nan wins; a tie (0, -0) gives b, as numpy */",
)
_C_SIGN = Helper(
    "sg_sign",
    "c",
    "SG_FN real sg_sign(real a) { return a > 0 ? (real)1 : (a < 0 ? (real)-1 : (a == a ? (real)0 : a)); } /* sign(+-0) = +0, sign(nan) = nan, as numpy */",
)
# 1/(1 + e^-a) as scipy.special.expit: e^-|a| never overflows, and the left tail is e^a/(1 + e^a), not 1 - (...)
_C_SIGMOID = Helper(
    "sg_sigmoid",
    "c",
    "SG_FN real sg_sigmoid(real a) { const real e = exp(-fabs(a)); return (a >= 0 ? (real)1 : e) / ((real)1 + e); }",
)
# numpy's sinc: pi*x (1e-20 for x = 0, giving exactly 1), then sin(y)/y
_C_SINC = Helper(
    "sg_sinc",
    "c",
    "SG_FN real sg_sinc(real a) { const real y = (real)3.141592653589793 * (a == 0 ? (real)1e-20 : a); "
    "return sin(y) / y; }",
)
# log(1 + e^a) = max(a, 0) + log1p(e^-|a|): exact in both tails, no overflow
_C_SOFTPLUS = Helper(
    "sg_softplus", "c", "SG_FN real sg_softplus(real a) { return (a > 0 ? a : (real)0) + log1p(exp(-fabs(a))); }"
)

# numpy's npy_logaddexp(2): a tie (infinities too) is the value plus log 2 (or 1); else the larger operand plus
# log1p of exp (exp2) of minus their difference, which never overflows; a nan difference is the nan
_C_LOGADDEXP = Helper(
    "sg_logaddexp",
    "c",
    "SG_FN real sg_logaddexp(real a, real b) { if (a == b) return a + (real)0.6931471805599453; "
    "const real d = a - b; return d > 0 ? a + log1p(exp(-d)) : (d <= 0 ? b + log1p(exp(d)) : d); }",
)
_C_LOGADDEXP2 = Helper(
    "sg_logaddexp2",
    "c",
    "SG_FN real sg_logaddexp2(real a, real b) { if (a == b) return a + (real)1; const real d = a - b; "
    "return d > 0 ? a + (real)1.4426950408889634 * log1p(exp2(-d)) "
    ": (d <= 0 ? b + (real)1.4426950408889634 * log1p(exp2(d)) : d); }",
)


def _max(a: float, b: float) -> float:
    return a if (a > b or math.isnan(a)) else b  # a tie (0.0, -0.0) gives b, as numpy


def _min(a: float, b: float) -> float:
    return a if (a < b or math.isnan(a)) else b  # a tie (0.0, -0.0) gives b, as numpy


def _sign(a: float) -> float:
    return a if math.isnan(a) else float((a > 0) - (a < 0))


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _sigmoid(a: float) -> float:
    e = math.exp(-abs(a))
    return (1.0 if a >= 0 else e) / (1.0 + e)


def _softplus(a: float) -> float:
    return (a if a > 0 else 0.0) + math.log1p(math.exp(-abs(a)))


def _sigmoid_into(x, out) -> None:
    """The stable sigmoid written into the kernel's buffer ``out`` (never one of its operands)."""
    e = np.exp(-np.abs(x))  # <= 1: never overflows
    np.add(e, 1.0, out=out)
    left = x < 0
    np.divide(e, out, out=out, where=left)  # e/(1 + e) on the left: no 1 - (...)
    np.divide(1.0, out, out=out, where=~left)


def _sigmoid_array(x):
    """The reference: the very computation of the numpy kernel, in the operand's float type."""
    x = np.asarray(x, dtype=np.result_type(x, 1.0))
    out = np.empty(x.shape, dtype=x.dtype)
    _sigmoid_into(x, out)
    return out


_ERF = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf ufunc; math.erf is correctly rounded to an ulp or so


def _float_type(*operands) -> np.dtype:
    """The float type numpy computes the operands in (float32 stays float32): what a reference returns."""
    return np.result_type(*operands, 1.0)


def _erf_array(x):
    return np.asarray(_ERF(x), dtype=_float_type(x))


def _erf_into(x, out) -> None:
    out[...] = _ERF(x)


_ERFC = np.frompyfunc(math.erfc, 1, 1)  # nor erfc: math.erfc keeps the right tail's relative accuracy


def _erfc_array(x):
    return np.asarray(_ERFC(x), dtype=_float_type(x))


def _erfc_into(x, out) -> None:
    out[...] = _ERFC(x)


_MATH_CBRT = getattr(math, "cbrt", None)  # Python >= 3.11


def _cbrt(a: float) -> float:
    """The real cube root, negative inputs included (C's cbrt)."""
    if _MATH_CBRT is not None:
        return _MATH_CBRT(a)
    r = abs(a) ** (1 / 3)
    if 0 < r < math.inf:
        r -= (r * r * r - abs(a)) / (3 * r * r)  # one Newton step: the power is off by an ulp or two
    return math.copysign(r, a)


def _exp2(a: float) -> float:
    try:
        return math.pow(2.0, a)
    except OverflowError:
        return math.inf


def _logaddexp(a: float, b: float) -> float:
    """numpy's logaddexp on floats (its npy_logaddexp, step for step)."""
    if a == b:
        return a + _LN2
    d = a - b
    if d > 0:
        return a + math.log1p(math.exp(-d))
    return b + math.log1p(math.exp(d)) if d <= 0 else d


def _logaddexp2(a: float, b: float) -> float:
    """numpy's logaddexp2 on floats (its npy_logaddexp2, step for step)."""
    if a == b:
        return a + 1.0
    d = a - b
    if d > 0:
        return a + _LOG2E * math.log1p(_exp2(-d))
    return b + _LOG2E * math.log1p(_exp2(d)) if d <= 0 else d


_LN2, _LOG2E = math.log(2), 1.4426950408889634  # log(2) and log2(e), correctly rounded


def _sinc(a: float) -> float:
    """numpy's normalised sinc, sin(pi*a)/(pi*a), computed as numpy computes it (1 at 0)."""
    y = math.pi * (1e-20 if a == 0 else a)
    return math.sin(y) / y


def _py(fn: Callable) -> Helper:
    return Helper(fn.__name__, "python", fn)


# -- partials ------------------------------------------------------------------------------------


def _abs_partial(B, x, out):
    # JAX's convention at the kink: d|x|/dx = 1 at x = 0 (select(x >= 0, 1, -1)).
    return B.where(B.call("ge", x, 0), 1, -1)


def _maximum_partials(B, args, out):
    # JAX's convention: at a tie each operand gets half the gradient.
    a, b = args
    s = B.call("sign", B.add(a, B.mul(-1, b)))
    return (B.mul(B.add(1, s), B.const(0.5)), B.mul(B.add(1, B.mul(-1, s)), B.const(0.5)))


def _minimum_partials(B, args, out):
    a, b = args
    s = B.call("sign", B.add(a, B.mul(-1, b)))
    return (B.mul(B.add(1, B.mul(-1, s)), B.const(0.5)), B.mul(B.add(1, s), B.const(0.5)))


def _mul_partials(B, args, out):
    return tuple(B.mul(*(args[:i] + args[i + 1 :])) for i in range(len(args)))


def power_rule(B, base, expo):
    """``d base**expo / d base`` as its two factors ``(expo, base**(expo - 1))``.

    Reverse mode multiplies the number ``expo`` into an adjoint that is a number
    itself before building the product (see :func:`symgrad.diff.reverse._propagate`).
    """
    return expo, B.pow(base, B.add(expo, B.const(-1)))


def _pow_partials(B, args, out):
    base, expo = args
    d_base = B.mul(*power_rule(B, base, expo))
    if expo.op == "const":
        return (d_base, B.const(0))
    if base.op == "const" and base.value == 0:
        # 0**y is constant where it is finite (0 for y > 0): d/dy is 0, as in autograd and JAX,
        # not out*log(0) = 0*(-inf) = nan
        return (d_base, B.const(0))
    return (d_base, B.mul(out, B.call("log", base)))


def _zero_partials(B, args, out):
    return tuple(B.const(0) for _ in args)


def _where_partials(B, args, out):
    # Selects of constants: multiplying an adjoint by them moves the adjoint *inside*
    # the select (see builders.mul), so a nan in the branch not taken never leaks.
    c = args[0]
    return (B.const(0), B.where(c, 1, 0), B.where(c, 0, 1))


def _arctan2_partials(B, args, out):
    y, x = args
    r2 = B.pow(B.add(B.pow(y, 2), B.pow(x, 2)), -1)
    return (B.mul(x, r2), B.mul(-1, y, r2))


def _hypot_partials(B, args, out):
    # a/hypot(a, b) and b/hypot(a, b): sympy's x/sqrt(x**2 + y**2), without the squares' overflow; 0/0 (nan) at
    # the origin, as for the 2-norm (jax.grad of jnp.linalg.norm too; jnp.hypot's 1/2 comes from its tie rule)
    inverse = B.pow(out, -1)
    return tuple(B.mul(x, inverse) for x in args)


def _logaddexp_partials(B, args, out):
    # exp(a)/(exp(a) + exp(b)) = sigmoid(a - b), from the difference (exp(a - out) would carry out's rounding)
    a, b = args
    return B.call("sigmoid", B.add(a, B.mul(-1, b))), B.call("sigmoid", B.add(b, B.mul(-1, a)))


def _logaddexp2_partials(B, args, out):
    # 2**a/(2**a + 2**b) = sigmoid((a - b)*log 2)
    a, b = args
    return tuple(B.call("sigmoid", B.mul(math.log(2), B.add(u, B.mul(-1, v)))) for u, v in ((a, b), (b, a)))


def _one_minus_square(B, x):
    return B.add(1, B.mul(-1, B.pow(x, 2)))


SINC_SERIES_BELOW = 0.25
"""Below this |x|, sinc's derivative is its Maclaurin series (here pi*x < 0.8, and 10 terms are exact to an ulp)."""


def _sinc_partial(B, x, out):
    # (cos(pi x) - sinc(x))/x is 0/0 at 0: near 0 the series sum_k (-1)^k 2k pi^2k x^(2k-1)/(2k+1)!, whose own
    # derivatives are right too (JAX's sinc is a Maclaurin series at 0 as well); the far branch divides by 1
    # there, so the branch not taken never warns
    near = B.call("lt", B.call("abs", x), SINC_SERIES_BELOW)
    series = B.add(
        *(
            B.mul((-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1), B.pow(x, 2 * k - 1))
            for k in range(1, 11)
        )
    )
    far = B.mul(B.add(B.call("cos", B.mul(math.pi, x)), B.mul(-1, out)), B.pow(B.where(near, 1, x), -1))
    return B.where(near, series, far)


# -- builders of entries ------------------------------------------------------------------------


def _unary(name, ref, partial, *, numpy, python, cuda, sympy, **extra):
    """A one-operand op; ``partial(B, x, out)`` is its derivative; ``sg.<name>`` by default."""
    extra.setdefault("public", name)
    extra.setdefault("text", name + "({0})")
    return Op(
        name=name,
        arity=1,
        ref=ref,
        partials=lambda B, args, out: (partial(B, args[0], out),),
        numpy=numpy,
        python=python,
        cuda=cuda,
        sympy=sympy,
        **extra,
    )


def _log_of_base(base: int) -> Op:
    """``log2``/``log10``: ops of their own (numpy's, libm's), not ``log(x)/log(b)``.

    The quotient rounds off at the base's powers (``log(8)/log(2)`` is 2.9999999999999996,
    where numpy's ``log2(8)`` is 3.0).
    """
    name = f"log{base}"
    return _unary(
        name,
        getattr(np, name),
        lambda B, x, out: B.mul(1 / math.log(base), B.pow(x, -1)),
        numpy=f"np.{name}({{0}}, out={{out}})",
        python=f"_m.{name}({{0}})",
        cuda=f"{name}({{0}})",
        sympy=lambda sp, a: sp.log(a, base),
        ufuncs=(name,),
        domain=(0.1, 3.0),
    )


def _compare(name, ufunc, symbol, sympy_type, public=""):
    return Op(
        name=name,
        arity=2,
        ref=lambda a, b: np.asarray(ufunc(a, b)).astype(_float_type(a, b)),
        partials=_zero_partials,
        text="({0} " + symbol + " {1})",
        numpy=f"np.{ufunc.__name__}({{0}}, {{1}}, out={{out}})",
        python="(1.0 if {0} " + symbol + " {1} else 0.0)",
        cuda="(({0} " + symbol + " {1}) ? 1.0 : 0.0)",
        sympy=lambda sp, a, b: sp.Piecewise((1, getattr(sp, sympy_type)(a, b)), (0, True)),
        sympy_types=(sympy_type,),
        ufuncs=(ufunc.__name__,),
        operator=symbol,
        public=public,
        condition=True,
        samples=((0.4, -0.9), (-1.1, 0.6)),
    )


def _classify(name: str, ufunc, real: int):
    """``isnan`` & co.: a test of a value's class; ``real`` is its value for every real number (sympy's symbols)."""
    return _unary(
        name,
        lambda a: np.asarray(ufunc(a)).astype(_float_type(a)),
        lambda B, x, out: B.const(0),
        numpy=f"np.{name}({{0}}, out={{out}})",
        python=f"(1.0 if _m.{name}({{0}}) else 0.0)",
        cuda=f"({name}({{0}}) ? 1.0 : 0.0)",
        sympy=lambda sp, a: sp.Integer(real),
        ufuncs=(name,),
        condition=True,
    )


_KINKED = ((-1.3,), (0.7,), (1.6,))  # unary ops with a kink at 0: test points away from it

_OPS = [
    # -- arithmetic: spelled by the printer's hooks -------------------------------------------
    Op(
        "add",
        -1,
        lambda *a: functools.reduce(np.add, a),
        lambda B, args, out: tuple(B.const(1) for _ in args),
        sympy=lambda sp, *a: sp.Add(*a),
        ufuncs=("add",),
        operator="+",
        commutative=True,
    ),
    Op(
        "mul",
        -1,
        lambda *a: functools.reduce(np.multiply, a),
        _mul_partials,
        sympy=lambda sp, *a: sp.Mul(*a),
        ufuncs=("multiply",),
        operator="*",
        commutative=True,
    ),
    Op(
        "pow",
        2,
        np.power,
        _pow_partials,
        sympy=lambda sp, a, b: sp.Pow(a, b),
        ufuncs=("power", "float_power"),
        operator="**",
        domain=(0.3, 1.8),
    ),
    # -- elementary functions ------------------------------------------------------------------
    _unary(
        "sin",
        np.sin,
        lambda B, x, out: B.call("cos", x),
        numpy="np.sin({0}, out={out})",
        python="_m.sin({0})",
        cuda="sin({0})",
        sympy=lambda sp, a: sp.sin(a),
        sympy_types=("sin",),
        ufuncs=("sin",),
        parity="odd",
    ),
    _unary(
        "cos",
        np.cos,
        lambda B, x, out: B.mul(-1, B.call("sin", x)),
        numpy="np.cos({0}, out={out})",
        python="_m.cos({0})",
        cuda="cos({0})",
        sympy=lambda sp, a: sp.cos(a),
        sympy_types=("cos",),
        ufuncs=("cos",),
        parity="even",
    ),
    _unary(
        "tan",
        np.tan,
        lambda B, x, out: B.add(1, B.pow(out, 2)),
        numpy="np.tan({0}, out={out})",
        python="_m.tan({0})",
        cuda="tan({0})",
        sympy=lambda sp, a: sp.tan(a),
        sympy_types=("tan",),
        ufuncs=("tan",),
        domain=(-1.2, 1.2),
        parity="odd",
    ),
    _unary(
        "arcsin",
        np.arcsin,
        lambda B, x, out: B.pow(_one_minus_square(B, x), B.const(-0.5)),
        numpy="np.arcsin({0}, out={out})",
        python="_m.asin({0})",
        cuda="asin({0})",
        sympy=lambda sp, a: sp.asin(a),
        sympy_types=("asin",),
        aliases=("asin",),
        ufuncs=("arcsin",),
        domain=(-0.9, 0.9),
        parity="odd",
    ),
    _unary(
        "arccos",
        np.arccos,
        lambda B, x, out: B.mul(-1, B.pow(_one_minus_square(B, x), B.const(-0.5))),
        numpy="np.arccos({0}, out={out})",
        python="_m.acos({0})",
        cuda="acos({0})",
        sympy=lambda sp, a: sp.acos(a),
        sympy_types=("acos",),
        aliases=("acos",),
        ufuncs=("arccos",),
        domain=(-0.9, 0.9),
    ),
    _unary(
        "arctan",
        np.arctan,
        lambda B, x, out: B.pow(B.add(1, B.pow(x, 2)), -1),
        numpy="np.arctan({0}, out={out})",
        python="_m.atan({0})",
        cuda="atan({0})",
        sympy=lambda sp, a: sp.atan(a),
        sympy_types=("atan",),
        aliases=("atan",),
        ufuncs=("arctan",),
        parity="odd",
    ),
    _unary(
        "arcsinh",
        np.arcsinh,
        lambda B, x, out: B.pow(B.add(B.pow(x, 2), 1), Fraction(-1, 2)),
        numpy="np.arcsinh({0}, out={out})",
        python="_m.asinh({0})",
        cuda="asinh({0})",
        sympy=lambda sp, a: sp.asinh(a),
        sympy_types=("asinh",),
        aliases=("asinh",),
        ufuncs=("arcsinh",),
        parity="odd",
    ),
    _unary(
        "arccosh",
        np.arccosh,
        lambda B, x, out: B.pow(B.add(B.pow(x, 2), -1), Fraction(-1, 2)),
        numpy="np.arccosh({0}, out={out})",
        python="_m.acosh({0})",
        cuda="acosh({0})",
        sympy=lambda sp, a: sp.acosh(a),
        sympy_types=("acosh",),
        aliases=("acosh",),
        ufuncs=("arccosh",),
        domain=(1.2, 3.0),
    ),
    _unary(
        "arctanh",
        np.arctanh,
        lambda B, x, out: B.pow(_one_minus_square(B, x), -1),
        numpy="np.arctanh({0}, out={out})",
        python="_m.atanh({0})",
        cuda="atanh({0})",
        sympy=lambda sp, a: sp.atanh(a),
        sympy_types=("atanh",),
        aliases=("atanh",),
        ufuncs=("arctanh",),
        domain=(-0.9, 0.9),
        parity="odd",
    ),
    _unary(
        "sinh",
        np.sinh,
        lambda B, x, out: B.call("cosh", x),
        numpy="np.sinh({0}, out={out})",
        python="_m.sinh({0})",
        cuda="sinh({0})",
        sympy=lambda sp, a: sp.sinh(a),
        sympy_types=("sinh",),
        ufuncs=("sinh",),
        parity="odd",
    ),
    _unary(
        "cosh",
        np.cosh,
        lambda B, x, out: B.call("sinh", x),
        numpy="np.cosh({0}, out={out})",
        python="_m.cosh({0})",
        cuda="cosh({0})",
        sympy=lambda sp, a: sp.cosh(a),
        sympy_types=("cosh",),
        ufuncs=("cosh",),
        parity="even",
    ),
    _unary(
        "tanh",
        np.tanh,
        lambda B, x, out: B.add(1, B.mul(-1, B.pow(out, 2))),
        numpy="np.tanh({0}, out={out})",
        python="_m.tanh({0})",
        cuda="tanh({0})",
        sympy=lambda sp, a: sp.tanh(a),
        sympy_types=("tanh",),
        ufuncs=("tanh",),
        parity="odd",
    ),
    _unary(
        "exp",
        np.exp,
        lambda B, x, out: out,
        numpy="np.exp({0}, out={out})",
        python="_exp({0})",
        cuda="exp({0})",
        sympy=lambda sp, a: sp.exp(a),
        sympy_types=("exp",),
        ufuncs=("exp",),
        helpers=(_py(_exp),),
    ),
    _unary(
        "expm1",
        np.expm1,
        lambda B, x, out: B.call("exp", x),
        numpy="np.expm1({0}, out={out})",
        python="_m.expm1({0})",
        cuda="expm1({0})",
        sympy=lambda sp, a: sp.exp(a) - 1,
        ufuncs=("expm1",),
    ),
    _unary(
        "exp2",
        np.exp2,
        lambda B, x, out: B.mul(math.log(2), out),
        numpy="np.exp2({0}, out={out})",
        python="_exp2({0})",
        cuda="exp2({0})",
        sympy=lambda sp, a: sp.Integer(2) ** a,
        ufuncs=("exp2",),
        helpers=(_py(_exp2),),
    ),
    _unary(
        "log",
        np.log,
        lambda B, x, out: B.pow(x, -1),
        numpy="np.log({0}, out={out})",
        python="_m.log({0})",
        cuda="log({0})",
        sympy=lambda sp, a: sp.log(a),  # sympy's log comes back by a handler: log(x, b) has two operands
        aliases=("ln",),
        ufuncs=("log",),
        undoes="exp",
        # log(sigmoid(u)) = -softplus(-u): no underflow to log(0) in the left tail
        rewrites=(("sigmoid", lambda B, u: B.mul(-1, B.call("softplus", B.mul(-1, u)))),),
        domain=(0.2, 3.0),
    ),
    _log_of_base(2),
    _log_of_base(10),
    _unary(
        "log1p",
        np.log1p,
        lambda B, x, out: B.pow(B.add(1, x), -1),
        numpy="np.log1p({0}, out={out})",
        python="_m.log1p({0})",
        cuda="log1p({0})",
        sympy=lambda sp, a: sp.log(1 + a),
        ufuncs=("log1p",),
        undoes="expm1",
        domain=(-0.6, 2.0),
    ),
    _unary(
        "erf",
        _erf_array,
        lambda B, x, out: B.mul(2 / math.sqrt(math.pi), B.call("exp", B.mul(-1, B.pow(x, 2)))),
        numpy="_erf_into({0}, {out})",
        python="_m.erf({0})",
        cuda="erf({0})",
        sympy=lambda sp, a: sp.erf(a),
        sympy_types=("erf",),
        ufuncs=("erf",),  # scipy.special.erf
        helpers=(_py(_erf_into),),
        parity="odd",
    ),
    _unary(
        "erfc",
        _erfc_array,
        lambda B, x, out: B.mul(-2 / math.sqrt(math.pi), B.call("exp", B.mul(-1, B.pow(x, 2)))),
        numpy="_erfc_into({0}, {out})",
        python="_m.erfc({0})",
        cuda="erfc({0})",
        sympy=lambda sp, a: sp.erfc(a),
        sympy_types=("erfc",),
        ufuncs=("erfc",),  # scipy.special.erfc
        helpers=(_py(_erfc_into),),
    ),
    # the real cube root (numpy's and C's cbrt, negative x included); d/dx = 1/(3 cbrt(x)**2), inf at 0 as in JAX
    _unary(
        "cbrt",
        np.cbrt,
        lambda B, x, out: B.mul(Fraction(1, 3), B.pow(out, -2)),
        numpy="np.cbrt({0}, out={out})",
        python="_cbrt({0})",
        cuda="cbrt({0})",
        sympy=lambda sp, a: sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3),  # sympy's cbrt is the principal root
        ufuncs=("cbrt",),
        helpers=(_py(_cbrt),),
        samples=_KINKED,
    ),
    # numpy's normalised sinc, sin(pi x)/(pi x), 1 at 0; its derivative is a series near 0 (see _sinc_partial)
    _unary(
        "sinc",
        np.sinc,
        _sinc_partial,
        numpy="{out}[...] = np.sinc({0})",
        python="_sinc({0})",
        cuda="sg_sinc({0})",
        sympy=lambda sp, a: sp.sinc(sp.pi * a),  # sympy's sinc is sin(x)/x; comes back by a handler
        helpers=(_py(_sinc), _C_SINC),
        samples=((-1.3,), (0.1,), (0.7,)),  # each side of the series' edge at 0.25
        parity="even",
    ),
    _unary(
        "abs",
        np.abs,
        lambda B, x, out: _abs_partial(B, x, out),
        numpy="np.absolute({0}, out={out})",
        python="abs({0})",
        cuda="fabs({0})",
        sympy=lambda sp, a: sp.Abs(a),
        sympy_types=("Abs",),
        ufuncs=("absolute", "fabs"),
        idempotent=True,
        samples=_KINKED,
        parity="even",
    ),
    _unary(
        "sign",
        np.sign,
        lambda B, x, out: B.const(0),
        numpy="np.sign({0}, out={out})",
        python="_sign({0})",
        cuda="sg_sign({0})",
        sympy=lambda sp, a: sp.sign(a),
        sympy_types=("sign",),
        ufuncs=("sign",),
        helpers=(_py(_sign), _C_SIGN),
        idempotent=True,
        samples=_KINKED,
    ),
    _unary(
        "sigmoid",
        _sigmoid_array,
        # s'(x) = s(x)*s(-x): no 1 - s(x), which cancels to 0 in the right tail
        lambda B, x, out: B.mul(out, B.call("sigmoid", B.mul(-1, x))),
        numpy="_sigmoid_into({0}, {out})",
        python="_sigmoid({0})",
        cuda="sg_sigmoid({0})",
        sympy=lambda sp, a: 1 / (1 + sp.exp(-a)),
        ufuncs=("expit",),  # scipy.special.expit
        helpers=(_py(_sigmoid), _py(_sigmoid_into), _C_SIGMOID),
        domain=(-4.0, 4.0),
    ),
    _unary(
        "softplus",
        lambda x: np.logaddexp(0.0, x),
        lambda B, x, out: B.call("sigmoid", x),
        numpy="np.logaddexp(0.0, {0}, out={out})",  # numpy's logaddexp is the stable form
        python="_softplus({0})",
        cuda="sg_softplus({0})",
        sympy=lambda sp, a: sp.log(1 + sp.exp(a)),
        helpers=(_py(_softplus), _C_SOFTPLUS),
        domain=(-4.0, 4.0),
    ),
    # JAX's convention: relu'(0) = 0.
    _unary(
        "relu",
        lambda x: np.maximum(x, 0.0),
        lambda B, x, out: B.where(B.call("gt", x, 0), 1, 0),
        numpy="np.maximum({0}, 0.0, out={out})",
        python="_max({0}, 0.0)",
        cuda="sg_max({0}, 0.0)",
        sympy=lambda sp, a: sp.Max(a, 0),
        helpers=(_py(_max), _C_MAX),
        samples=_KINKED,
    ),
    # Identity whose derivative is zero: keeps max-shifts in logsumexp out of derivatives.
    _unary(
        "stop_gradient",
        lambda x: np.asarray(x, dtype=_float_type(x)),
        lambda B, x, out: B.const(0),
        numpy="np.copyto({out}, {0})",
        python="{0}",
        cuda="{0}",
        sympy=lambda sp, a: a,
    ),
    Op(
        "arctan2",
        2,
        np.arctan2,
        _arctan2_partials,
        text="arctan2({0}, {1})",
        numpy="np.arctan2({0}, {1}, out={out})",
        python="_m.atan2({0}, {1})",
        cuda="atan2({0}, {1})",
        sympy=lambda sp, a, b: sp.atan2(a, b),
        sympy_types=("atan2",),
        public="arctan2",
        aliases=("atan2",),
        ufuncs=("arctan2",),
        samples=((0.7, -1.3), (-0.4, 0.9), (1.1, 0.5)),  # away from the cut along y = 0, x < 0
    ),
    # sqrt(a**2 + b**2) without overflow or underflow of the squares (libm's and numpy's hypot; inf if either is)
    Op(
        "hypot",
        2,
        np.hypot,
        _hypot_partials,
        text="hypot({0}, {1})",
        numpy="np.hypot({0}, {1}, out={out})",
        python="_m.hypot({0}, {1})",
        cuda="hypot({0}, {1})",
        sympy=lambda sp, a, b: sp.sqrt(a**2 + b**2),  # sympy has no hypot
        public="hypot",
        ufuncs=("hypot",),
    ),
    Op(
        "logaddexp",
        2,
        np.logaddexp,
        _logaddexp_partials,
        text="logaddexp({0}, {1})",
        numpy="np.logaddexp({0}, {1}, out={out})",
        python="_logaddexp({0}, {1})",
        cuda="sg_logaddexp({0}, {1})",
        sympy=lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)),  # sympy has no logaddexp
        public="logaddexp",
        ufuncs=("logaddexp",),
        helpers=(_py(_logaddexp), _C_LOGADDEXP),
        domain=(-4.0, 4.0),
    ),
    Op(
        "logaddexp2",
        2,
        np.logaddexp2,
        _logaddexp2_partials,
        text="logaddexp2({0}, {1})",
        numpy="np.logaddexp2({0}, {1}, out={out})",
        python="_logaddexp2({0}, {1})",
        cuda="sg_logaddexp2({0}, {1})",
        sympy=lambda sp, a, b: sp.log(2**a + 2**b, 2),
        public="logaddexp2",
        ufuncs=("logaddexp2",),
        helpers=(_py(_exp2), _py(_logaddexp2), _C_LOGADDEXP2),
        domain=(-4.0, 4.0),
    ),
    Op(
        "maximum",
        2,
        np.maximum,
        _maximum_partials,
        text="maximum({0}, {1})",
        numpy="np.maximum({0}, {1}, out={out})",
        python="_max({0}, {1})",
        cuda="sg_max({0}, {1})",
        sympy=lambda sp, a, b: sp.Max(a, b),  # sympy's Max comes back by a handler: it is n-ary
        public="maximum",
        aliases=("max",),
        ufuncs=("maximum",),
        helpers=(_py(_max), _C_MAX),
        samples=((0.4, -0.9), (-1.1, 0.6)),
    ),
    Op(
        "minimum",
        2,
        np.minimum,
        _minimum_partials,
        text="minimum({0}, {1})",
        numpy="np.minimum({0}, {1}, out={out})",
        python="_min({0}, {1})",
        cuda="sg_min({0}, {1})",
        sympy=lambda sp, a, b: sp.Min(a, b),
        public="minimum",
        aliases=("min",),
        ufuncs=("minimum",),
        helpers=(_py(_min), _C_MIN),
        samples=((0.4, -0.9), (-1.1, 0.6)),
    ),
    _compare("lt", np.less, "<", "StrictLessThan"),
    _compare("le", np.less_equal, "<=", "LessThan"),
    _compare("gt", np.greater, ">", "StrictGreaterThan"),
    _compare("ge", np.greater_equal, ">=", "GreaterThan"),
    # == and != inside traced functions and on arrays are these elementwise conditions (numpy's meaning);
    # on plain expressions == stays sympy's structural test (see Node.__eq__)
    _compare("eq", np.equal, "==", "Equality", public="equal"),
    _compare("ne", np.not_equal, "!=", "Unequality", public="not_equal"),
    # x != x is 0 in the graph (a value equals itself, as sympy's x - x is 0): nan is tested by name
    _classify("isnan", np.isnan, 0),
    _classify("isinf", np.isinf, 0),
    _classify("isfinite", np.isfinite, 1),
    Op(
        "where",
        3,
        lambda c, a, b: np.where(np.asarray(c) != 0, a, b),
        _where_partials,
        text="where({0}, {1}, {2})",
        numpy="{out}[...] = np.where({0}, {1}, {2})",
        python="({1} if {0} else {2})",
        cuda="(({0}) != 0.0 ? ({1}) : ({2}))",
        sympy=lambda sp, c, a, b: sp.Piecewise((a, sp.Ne(c, 0)), (b, True)),
        public="where",
        samples=((1.0, 0.3, -0.7), (0.0, 0.3, -0.7)),  # the condition is 0 or 1, as comparisons give
    ),
]

OPS: dict[str, Op] = {op.name: op for op in _OPS}

COMPARISONS = frozenset(op.name for op in _OPS if op.operator in ("<", "<=", ">", ">=", "==", "!="))


def c_helpers(op_names: Iterable[str]) -> list[str]:
    """The C definitions the named ops' spellings call, each once, in table order.

    Only used helpers are emitted: an unused static function draws a compiler warning.
    """
    used = set(op_names)
    found: dict[str, str] = {}
    for op in OPS.values():
        if op.name in used:
            for h in op.helpers:
                if h.backend == "c":
                    found.setdefault(h.name, h.code)
    return list(found.values())


SCALAR_NAMESPACE: dict[str, object] = {
    "_m": math,
    **{h.name: h.code for op in _OPS for h in op.helpers if h.backend == "python"},
}
"""What the generated Python (numpy kernels and the scalar path) finds besides ``np`` and ``math``."""
