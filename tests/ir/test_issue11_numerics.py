"""Issue 11, items 3, 4, 5 and 8: sigmoid's tails, d/dy 0**y, numpy's functions on arrays, to_sympy's size.

Each on scalars and arrays, on the numpy backend (its array kernel and its
plain-float path) and the C backend (and the CUDA source, compiled for the CPU).
"""

from __future__ import annotations

import shutil

import mpmath
import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.codegen.csource import generate_native
from symgrad.ir.node import toposort

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # self-checks off-domain
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
HAS_CXX = shutil.which("c++") is not None or shutil.which("g++") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]
TINY = np.finfo(float).tiny  # below it (subnormal results) an ulp is 5e-324, so the error is measured absolutely
X = np.concatenate([np.linspace(-745.0, 40.0, 158), [-40.0, -30.0, -20.0, -1e-8, 0.0, 1e-8, 0.5, 36.0, 40.0]])


def _mp(fn, xs) -> np.ndarray:
    with mpmath.workdps(60):
        return np.array([float(fn(mpmath.mpf(float(v)))) for v in xs])


def _sigmoid(v):
    return 1 / (1 + mpmath.exp(-v))


def _assert_accurate(got, want, rtol=1e-14, what=""):
    got = np.asarray(got, dtype=float)
    err = np.abs(got - want)
    bound = np.where(np.abs(want) >= TINY, rtol * np.abs(want), 2 * 5e-324)
    bad = err > bound
    assert not bad.any(), f"{what}: at x = {X[bad][:5]} got {got[bad][:5]}, exact {want[bad][:5]}"


def _emulated_cuda(fn_outputs, x):
    """The CUDA kernel's own source, compiled as C++ and run on the CPU."""
    from symgrad.backends.c import EmulatedCudaKernel

    sym = sg.symbols("x")
    kernel = generate_native([sym], list(fn_outputs(sym)), "float64", "cuda")
    rows = [np.empty(x.size) for _ in kernel.outputs]
    EmulatedCudaKernel(kernel, grid=2, block=8)([np.ascontiguousarray(x)], rows, x.size)
    return rows


# -- item 3: sigmoid on the whole line, its derivatives, log(sigmoid(x)) --------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigmoid_is_accurate_to_1e_14_from_minus_745_to_40(backend):
    want = _mp(_sigmoid, X)
    _assert_accurate(sg.compile(sg.sigmoid, backend=backend)(X), want, what=f"{backend} array kernel")
    _assert_accurate([sg.compile(sg.sigmoid, backend=backend)(float(v)) for v in X], want, what=f"{backend} floats")
    assert sg.sigmoid(-40.0).value == pytest.approx(4.248354255291589e-18, rel=1e-15)  # constant folding


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
def test_sigmoid_and_softplus_are_accurate_in_the_cuda_source():
    got_s, got_p = _emulated_cuda(lambda x: [sg.sigmoid(x), sg.softplus(x)], X)
    _assert_accurate(got_s, _mp(_sigmoid, X), what="CUDA sigmoid")
    _assert_accurate(got_p, _mp(lambda v: mpmath.log1p(mpmath.exp(v)), X), what="CUDA softplus")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigmoid_derivatives_keep_the_accuracy_in_both_tails(backend):
    x = np.array([-700.0, -40.0, -30.0, -5.0, 0.3, 5.0, 30.0, 40.0])
    with mpmath.workdps(60):
        d1 = [float(mpmath.diff(_sigmoid, mpmath.mpf(v))) for v in x]
        d2 = [float(mpmath.diff(_sigmoid, mpmath.mpf(v), 2)) for v in x]
    np.testing.assert_allclose(sg.grad(sg.sigmoid, backend=backend)(x), d1, rtol=1e-14, atol=0)
    np.testing.assert_allclose(sg.hessian(sg.sigmoid, backend=backend)(x), d2, rtol=1e-13, atol=0)
    # in the right tail s*(1 - s) would cancel to 0: s(x)*s(-x) does not
    assert sg.grad(sg.sigmoid, backend=backend)(40.0) == pytest.approx(4.248354255291589e-18, rel=1e-14)
    x_ = sg.symbols("x")
    assert str(sg.diff(sg.sigmoid(x_), x_)) == "sigmoid(-x)*sigmoid(x)"


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_sigmoid_is_built_as_minus_softplus_and_is_exact_in_the_tails(backend):
    x_ = sg.symbols("x")
    assert str(sg.log(sg.sigmoid(x_))) == "-softplus(-x)"
    f = sg.compile(lambda x: sg.log(sg.sigmoid(x)), backend=backend)
    assert f(-40.0) == pytest.approx(-40.0, rel=1e-15)
    assert f(-745.0) == -745.0
    want = _mp(lambda v: mpmath.log(_sigmoid(v)), X)
    _assert_accurate(f(X), want, what="log(sigmoid(x))")
    # and its derivative, sigmoid(-x), is exact too
    _assert_accurate(sg.grad(lambda x: sg.log(sg.sigmoid(x)), backend=backend)(X), _mp(lambda v: _sigmoid(-v), X))


@pytest.mark.parametrize("backend", BACKENDS)
def test_softplus_is_accurate_and_differentiates_to_sigmoid(backend):
    want = _mp(lambda v: mpmath.log1p(mpmath.exp(v)), X)
    _assert_accurate(sg.compile(sg.softplus, backend=backend)(X), want, what="softplus")
    _assert_accurate([sg.compile(sg.softplus, backend=backend)(float(v)) for v in X], want, what="softplus floats")
    _assert_accurate(sg.grad(sg.softplus, backend=backend)(X), _mp(_sigmoid, X), what="softplus'")
    assert sg.compile(sg.softplus, backend=backend)(800.0) == 800.0  # no overflow of exp


def test_sigmoid_on_arrays_and_through_scipy_expit():
    special = pytest.importorskip("scipy.special")
    v = np.array([-40.0, 0.2, 30.0])
    g = sg.grad(lambda x: np.sum(special.expit(x)), shapes=[(3,)])
    np.testing.assert_allclose(g(v), _mp(lambda t: _sigmoid(t) * _sigmoid(-t), v), rtol=1e-14)
    h = sg.compile(lambda x: special.log_expit(x), shapes=[(3,)])
    np.testing.assert_allclose(h(v), special.log_expit(v), rtol=1e-14)


# -- item 4: d/dy 0**y ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_derivatives_of_zero_to_the_y_are_zero_for_positive_y(backend):
    assert sg.grad(lambda y: 0.0**y, backend=backend)(0.7) == 0.0
    np.testing.assert_array_equal(sg.grad(lambda y: 0.0**y, backend=backend)(np.array([0.7, 2.0, 5.5])), 0.0)
    assert sg.hessian(lambda y: 0.0**y, backend=backend)(0.7) == 0.0
    assert sg.derivative(lambda y: 0.0**y, 3, backend=backend)(0.7) == 0.0  # Taylor mode agrees
    np.testing.assert_array_equal(sg.grad(lambda y: np.sum(0.0**y), shapes=[(3,)], backend=backend)([1.0, 2, 3]), 0)
    assert sg.compile(lambda y: 0.0**y, backend=backend)(0.7) == 0.0


def test_zero_to_the_y_keeps_its_values_and_other_constant_bases_keep_their_derivative():
    y = sg.symbols("y")
    assert str(sg.diff(0**y, y)) == "0"
    assert sg.grad(lambda y: 2.0**y)(1.5) == pytest.approx(2**1.5 * np.log(2))
    assert sg.compile(lambda y: 0.0**y)(0.0) == 1.0


# -- item 5: numpy's functions on scalars and arrays alike ----------------------------------------

V = np.array([0.3, 0.8, 1.7])

WORKS = {
    "log2": (lambda x: np.log2(x), np.log2),
    "log10": (lambda x: np.log10(x), np.log10),
    "fabs": (lambda x: np.fabs(x - 1), lambda x: np.fabs(x - 1)),
    "float_power": (lambda x: np.float_power(x, 2.5), lambda x: np.float_power(x, 2.5)),
    "hypot": (lambda x: np.hypot(x, 2.0), lambda x: np.hypot(x, 2.0)),
    "logaddexp": (lambda x: np.logaddexp(x, 0.5), lambda x: np.logaddexp(x, 0.5)),
    "logaddexp2": (lambda x: np.logaddexp2(0.5, x), lambda x: np.logaddexp2(0.5, x)),
    "vdot": (lambda x: np.vdot(x, x) + 0 * x, lambda x: x * x),
}


def _fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(WORKS))
def test_numpy_functions_work_on_scalars_and_arrays_alike(name, backend):
    traced, numeric = WORKS[name]
    want, dwant = numeric(V), _fd(numeric, V)
    scalar = sg.value_and_grad(lambda x: traced(x), backend=backend)
    for k, v in enumerate(V):
        value, slope = scalar(float(v))
        assert value == pytest.approx(want[k], rel=1e-13) and slope == pytest.approx(dwant[k], rel=1e-7)

    def traced_sum(x):
        return np.vdot(x, x) if name == "vdot" else np.sum(traced(x))  # vdot is a sum on arrays already

    value, grad = sg.value_and_grad(traced_sum, shapes=[(3,)], backend=backend)(V)
    assert value == pytest.approx(np.sum(want), rel=1e-13)
    np.testing.assert_allclose(grad, dwant, rtol=1e-7)


@pytest.mark.parametrize("name", ["erf", "expit"])
def test_scipy_special_ufuncs_work_on_scalars_and_arrays(name):
    special = pytest.importorskip("scipy.special")
    fn = getattr(special, name)
    assert sg.compile(fn)(0.3) == pytest.approx(fn(0.3), rel=1e-14)
    np.testing.assert_allclose(sg.compile(lambda x: fn(x), shapes=[(3,)])(V), fn(V), rtol=1e-14)
    np.testing.assert_allclose(sg.grad(lambda x: np.sum(fn(x)), shapes=[(3,)])(V), _fd(fn, V), rtol=1e-7)


def test_erf_is_an_op_with_its_derivative_and_formula():
    x = sg.symbols("x")
    assert str(sg.diff(sg.erf(x), x)) == "1.1283791670955126*exp(-x**2)"
    assert sg.parse_formula("erf(x)").value is sg.erf(x)
    assert sg.to_sympy(sg.erf(x)) == sp.erf(sp.Symbol("x", real=True))


REFUSED = {
    "numpy.fmod": lambda x: np.sum(np.fmod(x, 2.0)),
    "numpy.trunc": lambda x: np.sum(np.trunc(x)),
    "numpy.deg2rad": lambda x: np.sum(np.deg2rad(x)),
    "numpy.rint": lambda x: np.sum(np.rint(x)),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.parametrize("shapes", [None, [(3,)]], ids=["scalar", "array"])
def test_numpy_functions_without_a_counterpart_raise_unsupported_op_naming_them(name, shapes):
    with pytest.raises(sg.UnsupportedOpError, match=name.replace(".", r"\.")):
        sg.grad(REFUSED[name], shapes=shapes)


def test_a_ufunc_without_an_object_loop_on_a_plain_object_array_names_itself():
    # np.array([...]) of symbols is numpy's own object array, which has no float_power loop
    with pytest.raises(sg.UnsupportedOpError, match=r"numpy\.float_power"):
        sg.grad(lambda x: np.sum(np.float_power(np.array([x[0], x[1]]), 2.0)), shapes=[(2,)])


def test_ufuncs_on_plain_object_arrays_of_symbols_use_the_same_functions():
    x, y = sg.symbols("x y")
    plain = np.array([x, y], dtype=object)  # built by the user, not by symgrad
    assert list(np.log2(plain)) == [sg.log2(x), sg.log2(y)]
    assert list(np.fabs(plain)) == [sg.abs(x), sg.abs(y)]
    assert list(np.hypot(plain, plain)) == [sg.hypot(x, x), sg.hypot(y, y)]
    assert list(np.cbrt(plain)) == [sg.cbrt(x), sg.cbrt(y)]
    with pytest.raises(sg.UnsupportedOpError, match="numpy.rint"):
        np.rint(plain)


# -- item 8: to_sympy of a high derivative stays the size of its graph -------------------------------


def _count(replacements, expr) -> int:
    return sp.count_ops(expr) + sum(sp.count_ops(v) for _, v in replacements)


@pytest.mark.parametrize("f", ["exp(sin(x))", "sigmoid(sin(x))"])
def test_to_sympy_shared_keeps_an_eighth_derivative_the_size_of_its_graph(f):
    x = sg.symbols("x")
    e = sg.diff(sg.parse_formula(f, {}).value, x, 8)
    nodes = len(toposort([e]))
    plain = sp.count_ops(sg.to_sympy(e))
    replacements, expr = sg.to_sympy(e, shared=True)
    shared = _count(replacements, expr)
    assert shared <= 2 * nodes < plain  # plain: 1,040 and 105,059 ops; shared: about 100 and 300
    # the same number: evaluate the replacements in order, each from x and earlier ones only
    value = {sp.Symbol("x", real=True): sp.Float(0.3, 30)}
    for sym, rhs in replacements:
        assert rhs.free_symbols <= set(value)
        value[sym] = rhs.subs(value).evalf(30)
    want = sg.compile(e, inputs=[x])(0.3)
    assert float(expr.subs(value).evalf(30)) == pytest.approx(want, rel=1e-12)


def test_to_sympy_shared_names_avoid_the_expressions_own_symbols_and_keep_containers():
    t0, t1 = sg.symbols("t0 t1")
    s = sg.sin(t0 * t1)
    replacements, out = sg.to_sympy([s * s + s, sg.cos(t0 * t1)], shared=True)
    assert isinstance(out, list) and len(out) == 2
    names = {str(sym) for sym, _ in replacements}
    assert names and not names & {"t0", "t1"}
    assert sg.to_sympy(s) == sp.sin(sp.Symbol("t0", real=True) * sp.Symbol("t1", real=True))  # default unchanged


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_log2_and_log10_are_numpys_exactly_at_powers_of_their_base(backend):
    """log2(8) was log(8)/log(2) = 2.9999999999999996: now numpy's log2 and log10, exact at powers of the base."""
    x = sg.symbols("x")
    points = np.array([8.0, 1024.0, 0.125, 1000.0, 1e-5, 3.0])
    for fn, ref in ((sg.log2, np.log2), (sg.log10, np.log10)):
        f = sg.compile(fn(x), inputs=[x], backend=backend)
        np.testing.assert_array_equal(f(points), ref(points))
        assert [float(f(float(p))) for p in points] == ref(points).tolist()  # the float path too
    assert float(sg.lambdify(x, sg.diff(sg.log2(x), x))(8.0)) == pytest.approx(1 / (8 * np.log(2)), rel=1e-15)
