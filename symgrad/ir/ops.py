"""The table of primitives: each op defined once, with everything every layer needs.

An :class:`Op` holds the op's numpy reference implementation (used for constant
folding and by the reference interpreter), its derivative rule, and its spelling
for each backend and for text.  Adding an op means adding one entry here.

Derivative rules give the partial derivative of the op's output with respect to
each operand, built with the simplifying builders passed in as ``B`` (the
:mod:`symgrad.algebra` module), so this table does not import the layers above it.

Spellings:
- ``numpy``: statement(s) writing the result into the preallocated buffer
  ``{out}`` (the fused, in-place form); ``{0}``, ``{1}`` are operands.
- ``python``: a scalar Python expression (the fast path for float arguments).
- ``cuda``: a C expression, shared by the CUDA and C backends; ``sg_*`` helpers
  (numpy's nan rules for max/min/sign) come from ``templates/c_prelude.h.j2``.
- ``text``: how ``str()`` prints it; ``sympy``: the sympy constructor.
The n-ary ``add``/``mul`` and ``pow`` are spelled by the printer's hooks
(:mod:`symgrad.printer`), since their form depends on their operands.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Partials = Callable[..., tuple]


@dataclass(frozen=True)
class Op:
    name: str
    arity: int  # -1 for n-ary
    ref: Callable[..., np.ndarray]
    partials: Partials
    text: str = ""
    numpy: str = ""
    python: str = ""
    cuda: str = ""
    sympy: Callable | None = None
    commutative: bool = False
    idempotent: bool = False  # op(op(x)) == op(x), folded by the builders
    undoes: str = ""  # op(undone(x)) == x for every real x (log undoes exp), folded by the builders


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * np.asarray(x, dtype=float)) + 0.5


def _relu(x):
    return np.maximum(x, 0.0)


def _abs_partial(B, args, out):
    # JAX's convention at the kink: d|x|/dx = 1 at x = 0 (select(x >= 0, 1, -1)).
    (x,) = args
    return (B.where(B.call("ge", x, 0), 1, -1),)


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


def _pow_partials(B, args, out):
    base, expo = args
    d_base = B.mul(expo, B.pow(base, B.add(expo, -1)))
    if expo.op == "const":
        return (d_base, B.const(0))
    return (d_base, B.mul(out, B.call("log", base)))


def _zero_partials(B, args, out):
    return tuple(B.const(0) for _ in args)


def _where_partials(B, args, out):
    # Selects of constants: multiplying an adjoint by them moves the adjoint *inside*
    # the select (see algebra.mul), so a nan in the branch not taken never leaks.
    c = args[0]
    return (B.const(0), B.where(c, 1, 0), B.where(c, 0, 1))


def _unary(name, ref, partial, text, numpy, python, cuda, sympy, **extra):
    """An entry for a one-operand op; ``partial(B, x, out)`` is its derivative."""
    return Op(
        name=name,
        arity=1,
        ref=ref,
        partials=lambda B, args, out: (partial(B, args[0], out),),
        text=text,
        numpy=numpy,
        python=python,
        cuda=cuda,
        sympy=sympy,
        **extra,
    )


def _compare(name, ref, symbol, sympy_name):
    return Op(
        name=name,
        arity=2,
        ref=lambda a, b: ref(a, b).astype(float),
        partials=_zero_partials,
        text="({0} " + symbol + " {1})",
        numpy=f"np.{ref.__name__}({{0}}, {{1}}, out={{out}})",
        python="(1.0 if {0} " + symbol + " {1} else 0.0)",
        cuda="(({0} " + symbol + " {1}) ? 1.0 : 0.0)",
        sympy=lambda sp, a, b: sp.Piecewise((1, getattr(sp, sympy_name)(a, b)), (0, True)),
    )


_OPS = [
    Op(
        "add",
        -1,
        lambda *a: functools.reduce(np.add, a),
        lambda B, args, out: tuple(B.const(1) for _ in args),
        sympy=lambda sp, *a: sp.Add(*a),
        commutative=True,
    ),
    Op(
        "mul",
        -1,
        lambda *a: functools.reduce(np.multiply, a),
        _mul_partials,
        sympy=lambda sp, *a: sp.Mul(*a),
        commutative=True,
    ),
    Op("pow", 2, np.power, _pow_partials, sympy=lambda sp, a, b: sp.Pow(a, b)),
    _unary(
        "sin",
        np.sin,
        lambda B, x, out: B.call("cos", x),
        "sin({0})",
        "np.sin({0}, out={out})",
        "_m.sin({0})",
        "sin({0})",
        lambda sp, a: sp.sin(a),
    ),
    _unary(
        "cos",
        np.cos,
        lambda B, x, out: B.mul(-1, B.call("sin", x)),
        "cos({0})",
        "np.cos({0}, out={out})",
        "_m.cos({0})",
        "cos({0})",
        lambda sp, a: sp.cos(a),
    ),
    _unary(
        "tan",
        np.tan,
        lambda B, x, out: B.add(1, B.pow(out, 2)),
        "tan({0})",
        "np.tan({0}, out={out})",
        "_m.tan({0})",
        "tan({0})",
        lambda sp, a: sp.tan(a),
    ),
    _unary(
        "arcsin",
        np.arcsin,
        lambda B, x, out: B.pow(B.add(1, B.mul(-1, B.pow(x, 2))), B.const(-0.5)),
        "arcsin({0})",
        "np.arcsin({0}, out={out})",
        "_m.asin({0})",
        "asin({0})",
        lambda sp, a: sp.asin(a),
    ),
    _unary(
        "arccos",
        np.arccos,
        lambda B, x, out: B.mul(-1, B.pow(B.add(1, B.mul(-1, B.pow(x, 2))), B.const(-0.5))),
        "arccos({0})",
        "np.arccos({0}, out={out})",
        "_m.acos({0})",
        "acos({0})",
        lambda sp, a: sp.acos(a),
    ),
    _unary(
        "arctan",
        np.arctan,
        lambda B, x, out: B.pow(B.add(1, B.pow(x, 2)), -1),
        "arctan({0})",
        "np.arctan({0}, out={out})",
        "_m.atan({0})",
        "atan({0})",
        lambda sp, a: sp.atan(a),
    ),
    _unary(
        "sinh",
        np.sinh,
        lambda B, x, out: B.call("cosh", x),
        "sinh({0})",
        "np.sinh({0}, out={out})",
        "_m.sinh({0})",
        "sinh({0})",
        lambda sp, a: sp.sinh(a),
    ),
    _unary(
        "cosh",
        np.cosh,
        lambda B, x, out: B.call("sinh", x),
        "cosh({0})",
        "np.cosh({0}, out={out})",
        "_m.cosh({0})",
        "cosh({0})",
        lambda sp, a: sp.cosh(a),
    ),
    _unary(
        "tanh",
        np.tanh,
        lambda B, x, out: B.add(1, B.mul(-1, B.pow(out, 2))),
        "tanh({0})",
        "np.tanh({0}, out={out})",
        "_m.tanh({0})",
        "tanh({0})",
        lambda sp, a: sp.tanh(a),
    ),
    _unary(
        "exp",
        np.exp,
        lambda B, x, out: out,
        "exp({0})",
        "np.exp({0}, out={out})",
        "_exp({0})",
        "exp({0})",
        lambda sp, a: sp.exp(a),
    ),
    _unary(
        "expm1",
        np.expm1,
        lambda B, x, out: B.call("exp", x),
        "expm1({0})",
        "np.expm1({0}, out={out})",
        "_m.expm1({0})",
        "expm1({0})",
        lambda sp, a: sp.exp(a) - 1,
    ),
    _unary(
        "log",
        np.log,
        lambda B, x, out: B.pow(x, -1),
        "log({0})",
        "np.log({0}, out={out})",
        "_m.log({0})",
        "log({0})",
        lambda sp, a: sp.log(a),
        undoes="exp",
    ),
    _unary(
        "log1p",
        np.log1p,
        lambda B, x, out: B.pow(B.add(1, x), -1),
        "log1p({0})",
        "np.log1p({0}, out={out})",
        "_m.log1p({0})",
        "log1p({0})",
        lambda sp, a: sp.log(1 + a),
        undoes="expm1",
    ),
    _unary(
        "abs",
        np.abs,
        lambda B, x, out: _abs_partial(B, (x,), out)[0],
        "abs({0})",
        "np.absolute({0}, out={out})",
        "abs({0})",
        "fabs({0})",
        lambda sp, a: sp.Abs(a),
        idempotent=True,
    ),
    _unary(
        "sign",
        np.sign,
        lambda B, x, out: B.const(0),
        "sign({0})",
        "np.sign({0}, out={out})",
        "_sign({0})",
        "sg_sign({0})",
        lambda sp, a: sp.sign(a),
        idempotent=True,
    ),
    _unary(
        "sigmoid",
        _sigmoid,
        lambda B, x, out: B.mul(out, B.add(1, B.mul(-1, out))),
        "sigmoid({0})",
        "np.multiply({0}, 0.5, out={out}); np.tanh({out}, out={out}); "
        "np.multiply({out}, 0.5, out={out}); np.add({out}, 0.5, out={out})",
        "(0.5 * _m.tanh(0.5 * {0}) + 0.5)",
        "(0.5 * tanh(0.5 * {0}) + 0.5)",
        lambda sp, a: 1 / (1 + sp.exp(-a)),
    ),
    # JAX's convention: relu'(0) = 0.
    _unary(
        "relu",
        _relu,
        lambda B, x, out: B.where(B.call("gt", x, 0), 1, 0),
        "relu({0})",
        "np.maximum({0}, 0.0, out={out})",
        "_max({0}, 0.0)",
        "sg_max({0}, 0.0)",
        lambda sp, a: sp.Max(a, 0),
    ),
    # Identity whose derivative is zero: keeps max-shifts in logsumexp out of derivatives.
    _unary(
        "stop_gradient",
        lambda x: np.asarray(x, dtype=float),
        lambda B, x, out: B.const(0),
        "stop_gradient({0})",
        "np.copyto({out}, {0})",
        "{0}",
        "{0}",
        lambda sp, a: a,
    ),
    Op(
        "arctan2",
        2,
        np.arctan2,
        lambda B, args, out: (
            B.mul(args[1], B.pow(B.add(B.pow(args[0], 2), B.pow(args[1], 2)), -1)),
            B.mul(-1, args[0], B.pow(B.add(B.pow(args[0], 2), B.pow(args[1], 2)), -1)),
        ),
        text="arctan2({0}, {1})",
        numpy="np.arctan2({0}, {1}, out={out})",
        python="_m.atan2({0}, {1})",
        cuda="atan2({0}, {1})",
        sympy=lambda sp, a, b: sp.atan2(a, b),
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
        sympy=lambda sp, a, b: sp.Max(a, b),
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
    ),
    _compare("lt", np.less, "<", "Lt"),
    _compare("le", np.less_equal, "<=", "Le"),
    _compare("gt", np.greater, ">", "Gt"),
    _compare("ge", np.greater_equal, ">=", "Ge"),
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
    ),
]

OPS: dict[str, Op] = {op.name: op for op in _OPS}


# math-module helpers the scalar (python) spellings refer to; numpy semantics where
# Python's differ (nan propagation in max/min, sign of zero).
def _max(a: float, b: float) -> float:
    return a if (a >= b or math.isnan(a)) else b


def _min(a: float, b: float) -> float:
    return a if (a <= b or math.isnan(a)) else b


def _sign(a: float) -> float:
    return a if math.isnan(a) else float((a > 0) - (a < 0))


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


SCALAR_NAMESPACE = {"_m": math, "_max": _max, "_min": _min, "_sign": _sign, "_exp": _exp}
