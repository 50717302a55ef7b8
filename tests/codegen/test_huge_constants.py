"""Exact constants beyond the float range compile to the float they round to, on every path.

symgrad keeps integers and fractions exact (the 200th derivative of x**200 is 200!,
about 7.9e374), and ``float()`` of such a number raises OverflowError: compiling it
crashed.  Each path that turns a constant into a float for computing now goes through
:func:`symgrad.ir.node.float_value`: past the range a constant is +-inf (as float
arithmetic would reach), under it a 0.0 of its sign.  Float32 kernels make inf (or 0) of
a constant past float32's range, as numpy's float32 conversion does; the C and CUDA
sources spell it so (no literal the compiler warns about).
"""

from __future__ import annotations

import math
import shutil
from fractions import Fraction

import numpy as np
import pytest
from oracle import compiled_on

import symgrad as sg
from symgrad.api.compiled import Compiled
from symgrad.codegen.csource import generate_native
from symgrad.codegen.printer import float32_literal
from symgrad.ir.evaluate import evaluate
from symgrad.ir.node import float_value

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # inf * 0 and the like
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler")
X = sg.symbols("x")
BIG = 10**400
PATHS = ["numpy", "numpy-tape", pytest.param("c", marks=needs_cc), pytest.param("c-tape", marks=needs_cc)]


def _outputs() -> list:
    """Expressions holding constants past the float range, and the values they must give at x = 2 and -3."""
    return [
        (sg.diff(X**200, X, 200), [math.inf, math.inf]),  # a constant output: 200!
        (sg.diff(X**201, X, 200), [math.inf, -math.inf]),  # 201!*x
        (X + BIG, [math.inf, math.inf]),
        (X - BIG, [-math.inf, -math.inf]),
        (X + Fraction(BIG, 3), [math.inf, math.inf]),  # float(Fraction) overflows in its division
        (X * Fraction(1, BIG), [0.0, -0.0]),  # 1e-400: 0.0
        (X * Fraction(-1, BIG), [-0.0, 0.0]),  # -1e-400: -0.0, its sign kept
        (sg.where(X > 0, BIG, -BIG), [math.inf, -math.inf]),
        (sg.exp(BIG) * X, [math.inf, -math.inf]),  # folded while building
    ]


def _assert_same(got, want) -> None:
    """Equal values with equal signs (0.0 and -0.0 told apart)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_the_one_conversion_rounds_past_the_range_to_signed_inf_and_zero():
    assert float_value(BIG) == math.inf and float_value(-BIG) == -math.inf
    assert float_value(Fraction(BIG, 3)) == math.inf and float_value(Fraction(-BIG, 7)) == -math.inf
    assert float_value(Fraction(1, BIG)) == 0.0 and math.copysign(1, float_value(Fraction(-1, BIG))) == -1
    assert float_value(Fraction(BIG + 1, BIG // 10)) == 10.0  # huge terms, an ordinary quotient
    assert float_value(2**1024 - 2**970) == math.inf and float_value(2**1024 - 2**971) == float(2**1024 - 2**971)
    assert float_value(3) == 3.0 and float_value(Fraction(1, 4)) == 0.25 and math.isnan(float_value(math.nan))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", PATHS)
def test_every_path_compiles_them_to_inf_or_signed_zero(path, dtype, monkeypatch):
    exprs, wants = zip(*_outputs())
    f = compiled_on(list(exprs), [X], path, dtype, monkeypatch)
    got = f(np.array([2.0, -3.0], dtype=dtype))
    for g, want in zip(got, wants, strict=True):
        assert np.asarray(g).dtype == np.dtype(dtype)
        _assert_same(np.broadcast_to(g, (2,)), want)
    for k, x in enumerate((2.0, -3.0)):  # plain floats: the scalar path
        _assert_same([v for v in f(x)], [w[k] for w in wants])


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_the_reported_cases(backend):
    assert sg.lambdify(X, sg.diff(X**200, X, 200), backend=backend)(1.0) == math.inf
    assert sg.lambdify(X, X + 10**400, backend=backend)(1.0) == math.inf
    assert sg.grad(lambda t: (10**300 * t) ** 2, backend=backend)(1e-300) == math.inf  # 2e600 * t in floats
    assert str(sg.diff(X**200, X, 200)) == str(math.factorial(200))  # exact where it is not computed


def test_verify_samples_past_a_huge_exponent():
    """verify=True looks for domain edges in the exponents: an integer one past the float range is no edge."""
    assert sg.lambdify(X, X ** (10**400), verify=True)(2.0) == math.inf
    assert sg.lambdify(X, X * 10**400 + X**-1, verify=True)(0.5) == math.inf


def test_the_reference_interpreter_and_the_cuda_source():
    exprs, wants = zip(*_outputs())
    for got, want in zip(evaluate(list(exprs), {X: np.array([2.0, -3.0])}), wants, strict=True):
        _assert_same(np.broadcast_to(got, (2,)), want)
    compiled = Compiled(sg.compile(list(exprs), inputs=[X]).program)
    for dtype in ("float64", "float32"):
        source = generate_native(compiled._inputs, compiled._slots, dtype, "cuda").source
        code = [line for line in source.splitlines() if "const real t" in line or "O0[i * OS] =" in line]
        assert any("SG_INF" in line for line in code) and not any("0000000000" in line for line in code)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_float32_kernels_make_inf_of_constants_past_float32s_range(backend):
    f = sg.compile([X + 1e300, X - 1e300, X * 1e-50, X * -1e-50], inputs=[X], backend=backend, dtype="float32")
    got = f(np.array([2.0, -3.0], dtype=np.float32))
    for g, want in zip(got, [[np.inf] * 2, [-np.inf] * 2, [0.0, -0.0], [-0.0, 0.0]], strict=True):
        _assert_same(g, want)
    with np.errstate(over="ignore"):
        assert np.float32(1e300) == np.inf  # numpy's float32 conversion, which the kernels follow
    source = f.source_for("c")
    assert "1e+300f" not in source and "1e-50f" not in source and "SG_INF" in source  # gcc warned of both


def test_float32_literals_round_as_the_compiler_at_the_top_of_the_range():
    top = float(np.finfo(np.float32).max)
    midpoint = 2.0**128 - 2.0**103  # halfway from the largest float32 to 2**128: its decimal text is below
    assert float32_literal(midpoint) == top and float32_literal(-midpoint) == -top
    assert float32_literal(float(np.nextafter(midpoint, math.inf))) == math.inf
    assert float32_literal(2.0**-150) == 0.0 and float32_literal(1e300) == math.inf
    c32 = sg.compile(X + midpoint, inputs=[X], backend="c", dtype="float32") if HAS_CC else None
    if c32 is not None:
        assert float(c32(np.zeros(1, dtype=np.float32))[0]) == top  # what gcc makes of 3.4028235677973366e+38f


def _float_arithmetic(*values) -> list[float]:
    """The floats a chain of operands reaches when each exact one is first rounded to a float (float_value)."""
    return [float_value(v) for v in values]


def test_a_float_meeting_an_exact_constant_past_the_range_is_float_arithmetic():
    """Folding ``0.1 * 200!`` or ``0.1 + 10**400`` raised a bare OverflowError (Python's int-to-float conversion).

    Float arithmetic with the exact number rounded to inf is what the builders now fold it to, as the README
    promises for such constants: values compared with numpy on those floats at x = 2 and -3 (and 0.5 for powers).
    """
    tenth, big, factorial = _float_arithmetic(0.1, BIG, math.factorial(200))
    x = np.array([2.0, -3.0])
    cases = [
        (sg.diff(0.1 * X**200, X, 200), np.full(2, tenth * factorial)),  # the 200th derivative of 0.1*x**200
        (X + 0.1 + BIG, x + tenth + big),
        (0.1 * X * BIG, tenth * x * big),
        (0.1 * X + BIG * X, tenth * x + big * x),
        (sg.where(X > 0, 0.1, 1) + sg.where(X > 0, BIG, 2), np.where(x > 0, tenth + big, 3.0)),
    ]
    for expr, want in cases:
        got = np.broadcast_to(evaluate([expr], {X: x})[0], (2,))
        _assert_same(got, want)
        _assert_same(np.broadcast_to(sg.lambdify(X, expr)(x), (2,)), want)
    # the exponents' product is inf: x**inf is a number at negative x, where x**0.1 is nan, so they stay apart
    p = np.array([0.5, 2.0, -3.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(sg.lambdify(X, (X**0.1) ** BIG)(p), np.power(np.power(p, 0.1), big))
        np.testing.assert_array_equal(sg.lambdify(X, X**0.1 * X**BIG)(p), np.power(p, 0.1) * np.power(p, big))
    # reverse mode multiplies the number it carries (10**400) by a term's coefficient (0.1)
    w = sg.symbols("x0:4")
    f = BIG * (0.1 * sg.sin(w[0]) + sg.sin(w[1]) + sg.sin(w[2]) + sg.sin(w[3]) + sg.cos(w[0]))
    grad = sg.gradient(f, list(w))
    got = evaluate([grad[1]], {w[1]: np.array([0.5, 4.0])})[0]
    np.testing.assert_array_equal(got, big * np.cos([0.5, 4.0]))
