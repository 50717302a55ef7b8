"""The scalar functions autograd and JAX users reach for, with every spelling and at their special points.

The op table's walkers (``test_op_table.py``, ``test_systematic.py``) check each
table op (erf, erfc, cbrt, sinc, arcsinh, arccosh, arctanh, exp2, softplus, hypot) at
sampled points.  Here every one of these functions, composites included
(logaddexp, logaddexp2, reciprocal), is checked by its ``sg.``, ``np.``
and formula spellings, its sympy round trip and LaTeX, and its value, first and
second derivative against sympy to 30 digits on the numpy and C backends, on
plain floats and on batches; then the points the walkers avoid: cbrt of
negatives and at 0, sinc at and around 0, overflow and domain edges.
"""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.ir.evaluate import evaluate

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # self-checks off-domain
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]
U, V = sp.symbols("u v", real=True)
PI = sp.pi

# name: (arity, numpy's spelling or None, the sympy truth, test points (one row per point))
FUNCTIONS = {
    "erf": (1, None, sp.erf(U), [[-1.3], [0.2], [1.9]]),
    "erfc": (1, None, sp.erfc(U), [[-1.3], [0.2], [3.5]]),
    "softplus": (1, None, sp.log(1 + sp.exp(U)), [[-3.0], [0.4], [2.5]]),
    "logaddexp": (2, np.logaddexp, sp.log(sp.exp(U) + sp.exp(V)), [[0.3, -1.2], [-2.0, 0.5], [1.0, 1.5]]),
    "logaddexp2": (2, np.logaddexp2, sp.log(2**U + 2**V, 2), [[0.3, -1.2], [-2.0, 0.5], [1.0, 1.5]]),
    "hypot": (2, np.hypot, sp.sqrt(U**2 + V**2), [[0.3, -1.2], [-2.0, 0.5], [1.0, 1.5]]),
    "cbrt": (1, np.cbrt, sp.sign(U) * sp.Abs(U) ** sp.Rational(1, 3), [[-1.7], [-0.3], [2.4]]),
    "reciprocal": (1, np.reciprocal, 1 / U, [[-1.7], [0.3], [2.4]]),
    "arcsinh": (1, np.arcsinh, sp.asinh(U), [[-1.7], [0.3], [2.4]]),
    "arccosh": (1, np.arccosh, sp.acosh(U), [[1.05], [1.7], [4.0]]),
    "arctanh": (1, np.arctanh, sp.atanh(U), [[-0.95], [0.1], [0.6]]),
    "exp2": (1, np.exp2, 2**U, [[-1.7], [0.3], [2.4]]),
    "sinc": (1, np.sinc, sp.sin(PI * U) / (PI * U), [[-1.3], [0.1], [0.2499], [0.2501], [1.0], [2.5]]),
}
NAMES = sorted(FUNCTIONS)
LATEX = {"erfc": r"\operatorname{erfc}", "arcsinh": r"\operatorname{asinh}", "sinc": r"\operatorname{sinc}"}


def _truths(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian from sympy at the test points, to 30 digits."""
    arity, _, expr, points = FUNCTIONS[name]
    syms = [U, V][:arity]
    grads = [sp.diff(expr, s) for s in syms]
    hess = [[sp.diff(g, s) for s in syms] for g in grads]

    def at(e, p):  # exact rationals in: sympy's floats would cancel near sinc's 0/0
        return float(e.subs({s: sp.Rational(c) for s, c in zip(syms, p)}).evalf(30))

    value = np.array([at(expr, p) for p in points])
    grad = np.array([[at(g, p) for g in grads] for p in points])
    hessian = np.array([[[at(h, p) for h in row] for row in hess] for p in points])
    return value, grad, hessian


def _fn(name: str):
    arity = FUNCTIONS[name][0]
    fn = getattr(sg, name)
    return (lambda u: fn(u)) if arity == 1 else (lambda u, v: fn(u, v))


@pytest.mark.parametrize("name", NAMES)
def test_every_spelling_builds_the_same_expression(name):
    arity, ufunc, _, _ = FUNCTIONS[name]
    syms = sg.symbols("u v")[:arity]
    built = getattr(sg, name)(*syms)
    assert sg.parse_formula(f"{name}({', '.join(str(s) for s in syms)})").value is built
    if ufunc is not None:
        assert ufunc(*syms) is built
        arrays = [sg.symbols(f"{s}_arr", shape=(2,)) for s in syms]  # numpy's ufunc on arrays of symbols
        assert all(a is b for a, b in zip(ufunc(*arrays).flat, getattr(sg, name)(*arrays).flat))
    if name in LATEX:
        assert LATEX[name] in sg.latex(built)


@pytest.mark.parametrize("name", NAMES)
def test_sympy_round_trip_keeps_the_value(name):
    arity, _, _, points = FUNCTIONS[name]
    syms = sg.symbols("u v")[:arity]
    built = getattr(sg, name)(*syms)
    back = sg.from_sympy(sg.to_sympy(built))
    columns = np.array(points, dtype=float).T
    want = evaluate([built], dict(zip(syms, columns)))[0]
    np.testing.assert_allclose(evaluate([back], dict(zip(syms, columns)))[0], want, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_value_gradient_and_hessian_match_sympy(name, backend):
    arity, _, _, points = FUNCTIONS[name]
    value, grad, hessian = _truths(name)
    argnums = tuple(range(arity))
    f = _fn(name)
    compiled = (
        sg.compile(f, backend=backend),
        sg.grad(f, argnums=argnums, backend=backend),
        sg.hessian(f, argnums=argnums, backend=backend),
    )
    columns = [np.array(c, dtype=float) for c in np.array(points).T]
    got_v, got_g, got_h = (fn(*columns) for fn in compiled)  # a batch of points
    np.testing.assert_allclose(got_v, value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.stack(got_g, -1), grad, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(
        np.moveaxis(np.array(got_h, dtype=float), (0, 1), (1, 2)), hessian, rtol=1e-9, atol=1e-12
    )
    for k, p in enumerate(points):  # plain floats: the scalar path
        assert compiled[0](*p) == pytest.approx(value[k], rel=1e-13, abs=1e-15)
        np.testing.assert_allclose(compiled[1](*p), grad[k], rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cbrt_is_the_real_cube_root_with_an_infinite_slope_at_zero(backend):
    xs = np.array([-27.0, -8.0, -1e-300, 0.0, 1e-300, 0.125, 64.0, -np.inf, np.inf, np.nan])
    np.testing.assert_allclose(sg.compile(sg.cbrt, backend=backend)(xs), np.cbrt(xs), rtol=3e-16)  # C's: 1 ulp
    d = sg.grad(sg.cbrt, backend=backend)
    assert d(0.0) == math.inf and d(np.array([0.0]))[0] == math.inf  # 1/(3*cbrt(0)**2), as JAX
    assert d(-8.0) == pytest.approx(1 / 12, rel=1e-15) and d(8.0) == pytest.approx(1 / 12, rel=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sinc_at_zero_is_one_with_the_series_derivatives(backend):
    derivatives = [sg.compile(sg.sinc, backend=backend)] + [
        sg.derivative(sg.sinc, order=k, backend=backend) for k in (1, 2, 3, 4)
    ]
    # sinc = 1 - (pi x)**2/6 + (pi x)**4/120 - ...: at 0 the derivatives are 1, 0, -pi**2/3, 0, pi**4/5
    want = [1.0, 0.0, -(math.pi**2) / 3, 0.0, math.pi**4 / 5]
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")  # the branch not taken at 0 (a 0/0) neither warns nor leaks
        for fn, w in zip(derivatives, want):
            assert fn(0.0) == pytest.approx(w, abs=1e-12)
            assert fn(np.array([0.0, 0.0]))[0] == pytest.approx(w, abs=1e-12)
    for x in (1e-9, -1e-5, 0.2499999, 0.2500001, 3.0):  # both sides of the series' edge at |x| = 0.25
        truth = [float(sp.diff(sp.sin(PI * U) / (PI * U), U, k).subs(U, sp.Rational(x)).evalf(40)) for k in range(3)]
        got = [float(fn(x)) for fn in derivatives[:3]]
        np.testing.assert_allclose(got, truth, rtol=1e-10, atol=1e-12)


def test_sinc_follows_numpy_at_integers_and_infinities():
    xs = np.array([-2.0, -1.0, 0.0, 1.0, 3.0, np.inf, np.nan])
    for backend in ["numpy"] + (["c"] if HAS_CC else []):
        got = sg.compile(sg.sinc, backend=backend)(xs)
        np.testing.assert_allclose(got, np.sinc(xs), atol=1e-16, equal_nan=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_domain_edges_and_overflow_follow_numpy(backend):
    cases = [
        (sg.exp2, np.exp2, [-1100.0, -1.0, 0.5, 1023.5, 1024.0, 5000.0]),
        (sg.arccosh, np.arccosh, [0.5, 1.0, 2.0, np.inf]),
        (sg.arctanh, np.arctanh, [-1.0, -0.5, 1.0, 1.5]),
        (sg.erfc, lambda x: np.array([math.erfc(v) for v in x]), [-30.0, 0.0, 10.0, 27.0]),
        (sg.reciprocal, np.reciprocal, [-0.0, 0.0, 4.0]),
    ]
    with np.errstate(all="ignore"):
        for ours, theirs, xs in cases:
            xs = np.array(xs)
            fn = sg.compile(ours, backend=backend)
            np.testing.assert_allclose(fn(xs), theirs(xs), rtol=1e-14, equal_nan=True)
            for x, want in zip(xs, theirs(xs)):  # plain floats, through the scalar fast path
                assert np.allclose(fn(float(x)), want, rtol=1e-14, equal_nan=True), (ours.__name__, x)
