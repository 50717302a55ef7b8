"""NaN-safe where: the branch not taken never leaks nan or inf into a derivative, at any order, on every path.

The oracle for each case is the derivative of the branch that is taken (a closed
form, checked against sympy), and 0 where the constant branch is taken.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import symgrad as sg


def _available_backends() -> list[str]:
    """numpy always; C where a compiler is (CI has one); CUDA where CuPy sees a GPU."""
    import shutil

    from symgrad.backends import cuda

    found = ["numpy"]
    if shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"):
        found.append("c")
    try:
        cuda.cupy()
        found.append("cuda")
    except sg.BackendError:
        pass
    return found


BACKENDS = _available_backends()


def _host(values) -> np.ndarray:
    """Results as a numpy float array (CUDA results are CuPy arrays on the device)."""
    return np.asarray(values.get() if hasattr(values, "get") else values, dtype=float)


S = sympy.Symbol("x", real=True)

# (name, symgrad function, sympy expression of the branch taken where x > 0, value where x <= 0)
CASES = [
    ("sqrt", lambda x: sg.where(x > 0, sg.sqrt(x), 0.0), sympy.sqrt(S), 0.0),
    ("xlogx", lambda x: sg.where(x > 0, x * sg.log(x), 0.0), S * sympy.log(S), 0.0),
    ("division", lambda x: sg.where(x > 0, 1 / x, 0.0), 1 / S, 0.0),
    ("nested", lambda x: sg.where(x > 0, sg.where(x > 1, sg.log(x - 1), sg.sqrt(x)), 0.0), None, 0.0),
    (
        "in-sum",
        lambda x: sg.sum(np.array([sg.where(x > 0, sg.log(x) * k, 0.0) for k in (1, 2, 3)])),
        6 * sympy.log(S),
        0.0,
    ),
    ("both-dangerous", lambda x: sg.where(x > 0, sg.sqrt(x), sg.sqrt(-x)), sympy.sqrt(S), None),
]
NESTED = sympy.Piecewise((sympy.log(S - 1), S > 1), (sympy.sqrt(S), True))
POINTS = [-2.0, -0.5, 0.0, 0.5, 2.0]


def _oracle(case, order: int, x: float) -> float:
    name, _, pos, neg = case
    if name == "nested":
        pos = NESTED
    if x > 0:
        return float(sympy.diff(pos, S, order).subs(S, x)) if order else float(pos.subs(S, x))
    if neg is None:  # sqrt(-x)
        return float(sympy.diff(sympy.sqrt(-S), S, order).subs(S, x)) if order else math.sqrt(-x)
    return neg if order == 0 else 0.0


def _transform(kind: str, fn, order: int, backend: str):
    if order == 0:
        return sg.compile(fn, backend=backend)
    if kind == "derivative":
        return sg.derivative(fn, order, backend=backend)
    if kind == "hessian" and order == 2:
        return sg.hessian(fn, backend=backend)
    x = sg.symbols("x")
    return sg.compile(sg.diff(fn(x), x, order), inputs=[x], backend=backend)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["derivative", "diff", "hessian"])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_no_nan_from_the_branch_not_taken(case, order, kind, backend):
    if kind == "hessian" and order != 2:
        pytest.skip("hessian is order 2")
    f = _transform(kind, case[1], order, backend)
    points = [p for p in POINTS if not (case[0] == "both-dangerous" and p == 0.0 and order > 0)]
    expected = np.array([_oracle(case, order, p) for p in points])
    array = _host(f(np.array(points)))  # the array kernel
    scalar = np.array([float(f(p)) for p in points])  # the Python-float path
    for got in (array, scalar):
        assert not np.isnan(got).any(), (case[0], order, got)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_headline_case():
    assert sg.grad(lambda x: sg.where(x > 0, sg.sqrt(x), 0.0))(0.0) == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_where_on_vectors(backend):
    def f(v):
        positive = np.array([vi > 0 for vi in v])  # (numpy's own `v > 0` on an object array wants booleans)
        return sg.sum(sg.where(positive, v * sg.log(v), 0.0))

    v = np.array([[-1.0, 0.0, 2.0], [0.5, 0.0, -3.0]])
    g = _host(sg.grad(f, shapes={"v": (3,)}, backend=backend)(v))
    np.testing.assert_allclose(g, np.where(v > 0, np.log(np.where(v > 0, v, 1.0)) + 1.0, 0.0), rtol=1e-14)
    h = _host(sg.hessian(f, shapes={"v": (3,)}, backend=backend)(v))
    assert not np.isnan(h).any()
    expected = np.zeros((2, 3, 3))
    for b in range(2):
        for i in range(3):
            expected[b, i, i] = 1.0 / v[b, i] if v[b, i] > 0 else 0.0
    np.testing.assert_allclose(h, expected, rtol=1e-14)


SY = sympy.Symbol("y", real=True)


def _guarded(s):
    """sympy's select of the branch taken where x > 0, 0 elsewhere (the oracle's where(x > 0, s, 0))."""
    return sympy.Piecewise((s, S > 0), (0, True))


# products and powers of selects: a derivative's where(c, 1, 0) times another one must stay a select
MIXED_CASES = [
    (
        "square-of-select",
        lambda x, y: sg.where(x > 0, sg.sqrt(x), 0.0) ** 2 * y,
        _guarded(sympy.sqrt(S)) ** 2 * SY,
    ),
    (
        "select-times-select",
        lambda x, y: sg.where(x > 0, sg.sqrt(x), 0.0) * sg.where(x > 0, sg.log(x), 0.0) * y,
        _guarded(sympy.sqrt(S)) * _guarded(sympy.log(S)) * SY,
    ),
    (
        "sin-of-select",
        lambda x, y: sg.sin(y * sg.where(x > 0, sg.sqrt(x), 0.0)),
        sympy.sin(SY * _guarded(sympy.sqrt(S))),
    ),
    (
        "exp-of-select",
        lambda x, y: sg.exp(sg.where(x > 0, sg.sqrt(x), 0.0)) * y,
        sympy.exp(_guarded(sympy.sqrt(S))) * SY,
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS[:2])
@pytest.mark.parametrize("spec", ["x", "xx", "xy", "xxy", "xxx", "xxxy"])
@pytest.mark.parametrize("case", MIXED_CASES, ids=[c[0] for c in MIXED_CASES])
def test_mixed_partials_of_products_of_selects_take_only_the_branch_taken(case, spec, backend):
    _, fn, oracle = case
    x, y = sg.symbols("x y")
    names = {"x": (x, S), "y": (y, SY)}
    derivative = sg.diff(fn(x, y), *(names[c][0] for c in spec))
    want_expr = sympy.diff(oracle, *(names[c][1] for c in spec))
    points = [-1.0, 0.0, 0.5, 2.0]
    expected = np.array([float(want_expr.subs({S: p, SY: 1.5})) for p in points])
    f = sg.compile(derivative, inputs=[x, y], backend=backend)
    array = _host(f(np.array(points), np.full(len(points), 1.5)))
    scalar = np.array([float(f(p, 1.5)) for p in points])
    for got in (array, scalar):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# a node under selects on two conditions: a derivative's selects nest in either order, and their sum
# (the adjoint of a node read by several terms) must still be one select on the guard they share
NESTED_GUARD_CASES = [
    (
        "relu-inside",
        lambda x, y: sg.where(y > 0, sg.sqrt(y) * x * sg.relu(x), 0.0),
        sympy.sqrt(SY) * S * sympy.Max(S, 0),
    ),
    (
        "select-inside",
        lambda x, y: sg.where(y > 0, sg.sqrt(y) * sg.where(x > 0, x * x, x), 0.0),
        sympy.sqrt(SY) * sympy.Piecewise((S**2, S > 0), (S, True)),
    ),
    (
        "shared-power",
        lambda x, y: sg.where(y > 0, y * sg.log(y) * x * sg.sin(sg.where(x > 0, x**1.5, 2.0)), 0.0),
        SY * sympy.log(SY) * S * sympy.sin(sympy.Piecewise((S ** sympy.Rational(3, 2), S > 0), (2, True))),
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS[:2])
@pytest.mark.parametrize("spec", ["xy", "xyy", "xxy"])
@pytest.mark.parametrize("case", NESTED_GUARD_CASES, ids=[c[0] for c in NESTED_GUARD_CASES])
def test_mixed_partials_under_selects_on_two_conditions(case, spec, backend):
    _, fn, taken = case
    oracle = sympy.Piecewise((taken, SY > 0), (0, True))
    x, y = sg.symbols("x y")
    names = {"x": (x, S), "y": (y, SY)}
    derivative = sg.diff(fn(x, y), *(names[c][0] for c in spec))
    want_expr = sympy.diff(oracle, *(names[c][1] for c in spec))
    points = [(0.8, -1.0), (2.0, 0.0), (-0.7, -0.5), (0.6, 1.3), (-1.2, 0.4)]
    expected = np.array([float(want_expr.subs({S: px, SY: py})) for px, py in points])
    f = sg.compile(derivative, inputs=[x, y], backend=backend)
    xs, ys = (np.array(v) for v in zip(*points))
    for got in (_host(f(xs, ys)), np.array([float(f(px, py)) for px, py in points])):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
