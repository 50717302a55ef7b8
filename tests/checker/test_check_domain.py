"""Real domains: simplification never widens one, and the checker's sampler finds points inside it.

The simplifying builders used to turn ``sqrt(x)**2``, ``x**0.5*x**0.5``,
``sqrt(x)*sqrt(x)`` and ``(x**(1/3))**3`` into ``x``, which is -3 at x = -3
where numpy (computing the expression as written) gives nan.  Each rewrite is
checked here against numpy at negative, zero and positive x.  The sampler
(:func:`symgrad.ir.domain.valid_points`) must return points where every
expression is finite, on both sides of every kink, and none for an empty domain.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.domain import edges, sample, valid_points
from symgrad.ir.evaluate import evaluate
from symgrad.ir.node import free_symbols

X = sg.symbols("x")
XS = np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0])

# (symgrad expression, numpy as written): built through the simplifying builders, evaluated by the interpreter
AS_WRITTEN = {
    "sqrt(x)**2": (lambda x: sg.sqrt(x) ** 2, lambda x: np.sqrt(x) ** 2),
    "x**0.5*x**0.5": (lambda x: x**0.5 * x**0.5, lambda x: x**0.5 * x**0.5),
    "sqrt(x)*sqrt(x)": (lambda x: sg.sqrt(x) * sg.sqrt(x), lambda x: np.sqrt(x) * np.sqrt(x)),
    "(x**(1/3))**3": (lambda x: (x ** (1 / 3)) ** 3, lambda x: (x ** (1 / 3)) ** 3),
    "(x**2)**0.5": (lambda x: (x**2) ** 0.5, lambda x: (x**2) ** 0.5),
    "sqrt(x)**4": (lambda x: sg.sqrt(x) ** 4, lambda x: np.sqrt(x) ** 4),
    "(x**0.25)**2": (lambda x: (x**0.25) ** 2, lambda x: (x**0.25) ** 2),
    "x**1.5*x**0.5": (lambda x: x**1.5 * x**0.5, lambda x: x**1.5 * x**0.5),
    "x*sqrt(x)*sqrt(x)": (lambda x: x * sg.sqrt(x) * sg.sqrt(x), lambda x: x * np.sqrt(x) * np.sqrt(x)),
    "sqrt(x)**3": (lambda x: sg.sqrt(x) ** 3, lambda x: np.sqrt(x) ** 3),
    "x**2*x**3": (lambda x: x**2 * x**3, lambda x: x**2 * x**3),
    "(x**3)**2": (lambda x: (x**3) ** 2, lambda x: (x**3) ** 2),
    "x**y*x**y at y=0.5": (lambda x: x ** sg.symbols("y") * x ** sg.symbols("y"), lambda x: x**0.5 * x**0.5),
}


def _interpreted(expr, xs: np.ndarray) -> np.ndarray:
    """The reference interpreter's values at x = xs (any other symbol, such as y, at 0.5)."""
    env = {s: (xs if s is X else np.full_like(xs, 0.5)) for s in free_symbols([expr])}
    return np.broadcast_to(np.asarray(evaluate([expr], env)[0], dtype=float), xs.shape)


@pytest.mark.parametrize("name", list(AS_WRITTEN))
def test_simplification_keeps_the_real_domain_of_powers(name):
    build, reference = AS_WRITTEN[name]
    with np.errstate(all="ignore"):
        expected = reference(XS)
    got = _interpreted(build(X), XS)
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True, err_msg=f"{name} built as {build(X)}")


def test_sqrt_squared_is_nan_at_negative_x_in_compiled_code_too():
    with warnings.catch_warnings():  # verify=True (the suite's default) samples negative x, where this is nan
        warnings.simplefilter("ignore", RuntimeWarning)
        f = sg.compile(sg.sqrt(X) ** 2 + X**0.5 * X**0.5, inputs=[X])
    with np.errstate(all="ignore"):
        assert np.isnan(f(-3.0))
        assert f(4.0) == pytest.approx(8.0)


def test_integer_powers_still_combine():
    assert str(X**2 * X**3) == "x**5"
    assert str((X**3) ** 2) == "x**6"
    assert str(sg.sqrt(X) ** 3) == "x**(3/2)"  # x >= 0 on both sides
    assert str(X * X) == "x**2"
    assert (X / X).op == "const"  # the 0/0 at x = 0 is the documented finite-value assumption


def test_derivative_of_a_power_of_sqrt_keeps_its_domain():
    d = sg.diff(sg.sqrt(X) ** 2, X)
    values = _interpreted(d, XS)
    assert np.all(np.isnan(values[XS < 0]))
    np.testing.assert_allclose(values[XS > 0], 1.0)


# -- the sampler -------------------------------------------------------------------------------------


def test_valid_points_lie_inside_every_domain():
    for expr in (sg.sqrt(X - 5), sg.log(X**2 - 9), sg.arcsin(X - 5), X ** (1 / 3) + sg.log(X + 2)):
        points = valid_points([expr, sg.diff(expr, X)], [X], count=30)
        xs = points[X]
        assert xs.size >= 10, expr
        values = _interpreted(expr, xs)
        assert np.all(np.isfinite(values)), expr


def test_points_lie_on_both_sides_of_every_kink():
    y = sg.symbols("y")
    expr = sg.abs(X - 7) + sg.relu(X + 20) + sg.maximum(X, y) + sg.where(X > 300, X, 0)
    smp = sample([expr], [X, y], count=48)
    xs, ys = smp.points[X], smp.points[y]
    assert smp.beside_edges >= 12
    for kink in (7.0, -20.0, 300.0):
        assert np.any((xs > kink) & (xs < kink + 0.5 * max(1, abs(kink)))), kink
        assert np.any((xs < kink) & (xs > kink - 0.5 * max(1, abs(kink)))), kink
    assert np.any(xs > ys) and np.any(xs < ys)
    assert np.any(np.abs(xs) > 10) and np.any(np.abs(xs) < 1e-2)


def test_an_empty_domain_gives_no_points():
    points = valid_points([sg.sqrt(-(X**2) - 1)], [X])
    assert points[X].size == 0


def test_edges_name_each_kink_and_domain_boundary():
    found = {str(g) for g in edges([sg.abs(X) + sg.sqrt(X - 5) + sg.arccos(X) + sg.maximum(X, 2)])}
    assert {"x", "x - 5", "x - 1", "x + 1", "x - 2"} <= found


def test_sampling_is_silent_under_numpy_raise_and_warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            points = valid_points([sg.log(X), sg.sqrt(X - 1), sg.arcsin(X / 4)], [X])
    assert points[X].size and np.all((points[X] > 1) & (points[X] <= 4))
