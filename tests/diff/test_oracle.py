"""sympy and finite differences as oracles over randomly generated expressions.

Each random expression tree is built twice, independently: once with symgrad
and once with sympy (the tables in ``oracle.py``), so the oracle never goes
through symgrad's own conversion.  Values, first, second, mixed and third
derivatives must agree at random points; gradients must also match central
finite differences.

The default run draws 200 expressions; set SYMGRAD_FUZZ_EXAMPLES for more.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from oracle import SMOOTH_BINARY, SMOOTH_UNARY, SX, SY, X, Y, central_gradient, examples, smooth_expressions

import symgrad as sg

EXAMPLES = examples(200)
UNARY, BINARY = SMOOTH_UNARY, SMOOTH_BINARY
EXPRESSIONS = smooth_expressions()
POINTS = np.random.default_rng(1).uniform(-1.2, 1.2, size=(2, 5))


def _close(got, want, what, expr):
    got = np.broadcast_to(np.asarray(got, dtype=float), want.shape)
    assert np.allclose(got, want, rtol=1e-8, atol=1e-8), f"{what} of {expr}: {got} != {want}"


def _sympy_values(expr) -> np.ndarray:
    fn = sympy.lambdify((SX, SY), expr, modules="numpy")
    return np.broadcast_to(np.asarray(fn(POINTS[0], POINTS[1]), dtype=float), POINTS[0].shape)


def _sg_values(expr) -> np.ndarray:
    return sg.compile(expr, inputs=[X, Y])(POINTS[0], POINTS[1])


SPECS = ([X], [Y], [X, X], [X, Y], [Y, Y, X], [X, 3])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_values_and_derivatives_match_sympy(pair):
    e, s = pair
    ours = [e] + [sg.diff(e, *spec) for spec in SPECS]
    theirs = [s] + [sympy.diff(s, *[SX if v is X else SY if v is Y else v for v in spec]) for spec in SPECS]
    got = sg.compile(ours, inputs=[X, Y])(POINTS[0], POINTS[1])
    want = sympy.lambdify((SX, SY), theirs, modules="numpy")(POINTS[0], POINTS[1])
    for what, g, w in zip(["value", *map(str, SPECS)], got, want):
        _close(g, np.broadcast_to(np.asarray(w, dtype=float), POINTS[0].shape), what, s)


@settings(max_examples=max(EXAMPLES // 4, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_to_sympy_agrees_with_the_independent_sympy_build(pair):
    e, s = pair
    _close(_sympy_values(sg.to_sympy(e)), _sympy_values(s), "to_sympy value", s)
    back = sg.from_sympy(s)
    _close(_sg_values(back), _sympy_values(s), "from_sympy value", s)


@settings(max_examples=max(EXAMPLES // 2, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_gradient_matches_central_differences(pair):
    e, _ = pair
    f = sg.compile(e, inputs=[X, Y])
    g = sg.compile(list(sg.gradient(e, [X, Y])), inputs=[X, Y])
    x, y = POINTS
    fd_x, fd_y = central_gradient(f, POINTS)
    gx, gy = g(x, y)
    scale = 1 + np.abs(fd_x) + np.abs(fd_y)
    assert np.all(np.abs(np.broadcast_to(gx, x.shape) - fd_x) <= 1e-5 * scale)
    assert np.all(np.abs(np.broadcast_to(gy, y.shape) - fd_y) <= 1e-5 * scale)


@pytest.mark.parametrize("seed", range(3))
def test_hessian_of_random_expression_is_symmetric_and_matches_sympy(seed):
    rng = np.random.default_rng(seed)
    e, s = _seeded_expression(rng)
    H = sg.hessian(e, [X, Y])
    SH = sympy.hessian(s, (SX, SY))
    for i in range(2):
        for j in range(2):
            _close(_sg_values(H[i, j]), _sympy_values(SH[i, j]), f"H[{i},{j}]", s)
    assert H[0, 1] is H[1, 0]


def _seeded_expression(rng):
    """A fixed random expression (a plain generator, for tests that want no hypothesis)."""
    e, s = X, SX
    for _ in range(4):
        name = sorted(UNARY)[rng.integers(len(UNARY))]
        e, s = UNARY[name][0](e), UNARY[name][1](s)
        bname = sorted(BINARY)[rng.integers(len(BINARY))]
        e, s = BINARY[bname][0](e, Y), BINARY[bname][1](s, SY)
    return e, s
