"""hypot is a primitive of the op table, computed as libm's and numpy's hypot on every path.

Built as ``sqrt(a**2 + b**2)`` it overflowed past 1e154 (float32: 1.8e19), underflowed
below 1e-154, gave nan for hypot(inf, nan) (numpy: inf) and a derivative of 0 at
(1e200, 1e200).  Here its values are held to ``np.hypot`` at huge, tiny, infinite, nan,
negative and zero operands, in float64 and float32, on the numpy and C backends, their
tapes, the scalar path and the CUDA source run on the CPU; its derivatives to sympy's of
``sqrt(a**2 + b**2)`` (the partials print as sympy's, ``x/hypot(x, y)``, nan at the
origin as the 2-norm's are) and to central differences.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import sympy as sp
from oracle import compiled_on

import symgrad as sg
from symgrad.api.compiled import Compiled, _SlotLayout
from symgrad.backends import c as native
from symgrad.codegen.csource import generate_native
from symgrad.ir.evaluate import evaluate

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # numpy's own hypot overflows
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
HAS_CXX = shutil.which("c++") is not None or shutil.which("g++") is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler")
X, Y = sg.symbols("x y")
INF, NAN = np.inf, np.nan
SPECIAL = [
    (1e200, 1e200), (1e-200, 1e-200), (-1e300, 1e300), (1e200, 1e-200), (INF, NAN), (NAN, -INF), (-INF, 3.0),
    (NAN, 1.0), (-3.0, 4.0), (3.0, -4.0), (0.0, 0.0), (-0.0, -0.0), (0.0, -2.5), (3e19, 3e19), (1e-30, 1e-30),
]  # fmt: skip
EDGES = [(1.7e308, 1.7e308), (5e-324, 5e-324), (3e38, 3e38), (1e-45, 1e-45)]  # overflow at the top, subnormals
PATHS = ["numpy", "numpy-tape", pytest.param("c", marks=needs_cc), pytest.param("c-tape", marks=needs_cc)]


def _points(dtype: str, points=SPECIAL) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore"):
        a, b = np.array(points).T.astype(dtype)
    return a, b


def _assert_close(got, want, dtype: str) -> None:
    """Equal infinities and nans, finite values within a few ulp (the C loop may use vector libm)."""
    got = np.asarray(got)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_hypot_is_one_node_of_the_op_table():
    e = sg.hypot(X, Y)
    assert e.op == "hypot" and e.args == (X, Y) and str(e) == "hypot(x, y)"
    assert np.hypot(X, Y) is e and sg.parse_formula("hypot(x, y)").value is e
    assert sg.hypot(3, 4) == 5.0 and str(sg.hypot(X, 2.0)) == "hypot(x, 2)"
    assert sg.to_sympy(e) == sp.sqrt(sp.Symbol("x", real=True) ** 2 + sp.Symbol("y", real=True) ** 2)  # sympy has none


def _assert_numpys_hypot(path: str, dtype: str, points, monkeypatch) -> None:
    a, b = _points(dtype, points)
    f = compiled_on(sg.hypot(X, Y), [X, Y], path, dtype, monkeypatch)
    want = np.hypot(a, b)
    _assert_close(f(a, b), want, dtype)
    if dtype == "float64":  # plain floats: the scalar path (math.hypot, or the tape's float functions)
        got = [f(float(p), float(q)) for p, q in zip(a, b)]
        np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", PATHS)
def test_values_are_numpys_hypot_at_huge_tiny_inf_nan_and_zero(path, dtype, monkeypatch):
    _assert_numpys_hypot(path, dtype, SPECIAL, monkeypatch)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", PATHS)
def test_values_at_the_ends_of_the_float_range(path, dtype, monkeypatch):
    # subnormals included: no fast_math=True kernel loaded earlier in the run has set flush-to-zero (it is
    # linked without crtfastmath.o, tests/backends/test_c_compiler.py)
    _assert_numpys_hypot(path, dtype, EDGES, monkeypatch)


def test_the_overflows_of_sqrt_of_squares_are_gone():
    f = sg.lambdify([X, Y], sg.hypot(X, Y))
    assert f(1e200, 1e200) == pytest.approx(1.4142135623730951e200, rel=1e-15)
    assert f(1e-200, 1e-200) == pytest.approx(1.4142135623730951e-200, rel=1e-15)
    assert f(np.inf, np.nan) == np.inf and f(np.nan, -np.inf) == np.inf
    f32 = sg.lambdify([X, Y], sg.hypot(X, Y), dtype="float32")
    big = np.array([3e19, 1e30], dtype=np.float32)
    np.testing.assert_allclose(f32(big, big), np.hypot(big, big), rtol=1e-6)
    assert sg.lambdify([X, Y], sg.diff(sg.hypot(X, Y), X))(1e200, 1e200) == pytest.approx(2**-0.5, rel=1e-15)


@pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_cuda_source_run_on_the_cpu_gives_numpys_hypot(dtype):
    a, b = _points(dtype)
    compiled = Compiled(sg.compile([sg.hypot(X, Y), sg.diff(sg.hypot(X, Y), X)], inputs=[X, Y]).program)
    kernel = generate_native(compiled._inputs, compiled._slots, dtype, "cuda")
    assert "hypot(x0, x1)" in kernel.source
    run = native.EmulatedCudaKernel(kernel, grid=2, block=3)
    block = _SlotLayout(compiled._slots, None).run(run, [a, b], a.size, np.dtype(dtype))
    _assert_close(block[0], np.hypot(a, b), dtype)


# -- derivatives --------------------------------------------------------------------------------

U, V = sp.symbols("u v", real=True)
MODERATE = [(0.3, -1.2), (-2.0, 0.5), (1.0, 1.5), (-0.7, -0.4)]


def _sympy_truth(point) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and Hessian of sqrt(u**2 + v**2) at ``point``, from sympy to 30 digits."""
    expr = sp.sqrt(U**2 + V**2)
    at = {U: sp.Rational(point[0]), V: sp.Rational(point[1])}
    grad = [sp.diff(expr, s) for s in (U, V)]
    hess = [[sp.diff(g, s) for s in (U, V)] for g in grad]
    return np.array([float(g.subs(at).evalf(30)) for g in grad]), np.array(
        [[float(h.subs(at).evalf(30)) for h in row] for row in hess]
    )


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_gradient_and_hessian_are_sympys_of_the_square_root_form(backend):
    grad = sg.grad(lambda a, b: sg.hypot(a, b), argnums=(0, 1), backend=backend)
    hess = sg.hessian(lambda a, b: np.hypot(a, b), argnums=(0, 1), backend=backend)
    for point in MODERATE:
        want_g, want_h = _sympy_truth(point)
        np.testing.assert_allclose(grad(*point), want_g, rtol=1e-14)
        np.testing.assert_allclose(np.array(hess(*point), dtype=float), want_h, rtol=1e-13, atol=1e-15)


def test_gradient_agrees_with_central_differences():
    grad = sg.grad(lambda a, b: sg.hypot(a, b), argnums=(0, 1))
    h = 1e-6
    for a, b in MODERATE + [(1e150, -3e150), (2e-150, 1e-150)]:
        scale = abs(a) + abs(b)
        fd = [
            (np.hypot(a + h * scale, b) - np.hypot(a - h * scale, b)) / (2 * h * scale),
            (np.hypot(a, b + h * scale) - np.hypot(a, b - h * scale)) / (2 * h * scale),
        ]
        np.testing.assert_allclose(grad(a, b), fd, rtol=1e-7)


def test_derivatives_at_huge_and_tiny_points_and_at_the_origin():
    grad = sg.grad(lambda a, b: sg.hypot(a, b), argnums=(0, 1))
    hess = sg.hessian(lambda a, b: sg.hypot(a, b), argnums=(0, 1))
    s = 2**-0.5
    np.testing.assert_allclose(grad(1e200, 1e200), (s, s), rtol=1e-15)
    np.testing.assert_allclose(grad(-1e-200, 1e-200), (-s, s), rtol=1e-15)
    assert grad(0.0, 2.0) == (0.0, 1.0) and grad(-3.0, 0.0) == (-1.0, 0.0)
    with np.errstate(all="ignore"):  # 0/0 at the origin, as the 2-norm's gradient (sympy's and JAX's) is there
        assert all(math.isnan(g) for g in grad(0.0, 0.0))
    np.testing.assert_allclose(np.array(hess(3.0, 4.0), dtype=float), [[0.128, -0.096], [-0.096, 0.072]], rtol=1e-14)
    g32 = sg.grad(lambda a, b: sg.hypot(a, b), argnums=(0, 1), dtype="float32")
    big = np.array([1e30, 3e19], dtype=np.float32)
    np.testing.assert_allclose(np.array(g32(big, big)), np.full((2, 2), s), rtol=1e-6)
    assert str(sg.diff(sg.hypot(X, Y), X)) == "x/hypot(x, y)"


def test_reference_interpreter_and_checker_know_hypot():
    a, b = _points("float64")
    (got,) = evaluate([sg.hypot(X, Y)], {X: a, Y: b})
    np.testing.assert_array_equal(got, np.hypot(a, b))
    assert sg.check("hypot(x, y)", "x/hypot(x, y)", wrt="x")
    assert sg.check("hypot(x, y)", "y/sqrt(x**2 + y**2)", wrt="y")
    assert not sg.check("hypot(x, y)", "y/hypot(x, y)", wrt="x")
