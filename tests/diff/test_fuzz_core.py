"""Random expression trees over every primitive, built independently in symgrad and sympy.

test_oracle.py covers smooth compositions; this extends the oracle (the
``EXTRA_*`` tables in ``oracle.py``) to the primitives it leaves out (tan,
arccos, sinh, cosh, expm1, log1p, abs, sign, relu, stop_gradient, maximum,
minimum, comparisons, where, a symbolic power), keeping domains valid.
Values and first and second derivatives must match sympy at random points
(never exactly on a kink); gradients also match central differences.
SYMGRAD_FUZZ_EXAMPLES sets the number of examples (default 25, about a minute of CI).
"""

from __future__ import annotations

import numpy as np
import sympy
from hypothesis import HealthCheck, given, reject, settings
from oracle import EXTRA_BINARY, EXTRA_UNARY, SMOOTH_BINARY, SX, SY, X, Y, central_gradient, examples, expressions
from oracle import sympy_values as _sympy_values

import symgrad as sg

EXAMPLES = examples(25)
UNARY = EXTRA_UNARY
BINARY = {**{k: SMOOTH_BINARY[k] for k in ("add", "mul", "arctan2")}, **EXTRA_BINARY}
LEAVES = [(X, SX), (Y, SY), (X - Y, SX - SY), (X * Y, SX * SY)]


EXPRESSIONS = expressions(UNARY, BINARY, LEAVES, max_leaves=6)
POINTS = np.random.default_rng(7).uniform(-1.3, 1.3, size=(2, 6))


def _sympy_eval(exprs) -> list[np.ndarray]:
    return _sympy_values(exprs, POINTS)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_values_first_and_second_derivatives_match_sympy(pair):
    e, s = pair
    specs = [(X,), (Y,), (X, X), (X, Y)]
    ours = [e] + [sg.diff(e, *spec) for spec in specs]
    sspecs = [tuple(SX if v is X else SY for v in spec) for spec in specs]
    try:
        theirs = [s] + [sympy.diff(s, *spec) for spec in sspecs]
        wanted = _sympy_eval(theirs)
    except (
        RecursionError
    ):  # sympy's own Piecewise simplification (and evalf) of nested Max/where can recurse without end
        reject()  # the oracle has no answer: not a symgrad failure, another example instead
    got = sg.compile(ours, inputs=[X, Y])(POINTS[0], POINTS[1])
    for what, g, w in zip(["value", "d/dx", "d/dy", "d2/dx2", "d2/dxdy"], got, wanted):
        g = np.broadcast_to(np.asarray(g, dtype=float), w.shape)
        finite = np.isfinite(w)  # sympy leaves some kink derivatives undefined (nan); we never sample kinks
        assert np.allclose(g[finite], w[finite], rtol=1e-8, atol=1e-8), f"{what} of {s}: {g} != {w}"
        assert finite.sum() >= 1 or what != "value"


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_gradient_matches_central_differences_where_smooth(pair):
    e, s = pair
    if any(f in str(s) for f in ("StopGrad",)):
        return  # its gradient is zero by definition, not the slope
    f = sg.compile(e, inputs=[X, Y])
    gx, gy = sg.compile(list(sg.gradient(e, [X, Y])), inputs=[X, Y])(POINTS[0], POINTS[1])
    h = 1e-6
    x, y = POINTS
    fd_x, fd_y = central_gradient(f, POINTS, h)
    # where a kink or a branch switch lies within h of a point the difference quotient is not a slope
    smooth = np.abs((f(x + 2 * h, y) - f(x, y)) / (2 * h) - fd_x) < 1e-3
    smooth &= np.abs((f(x, y + 2 * h) - f(x, y)) / (2 * h) - fd_y) < 1e-3
    scale = 1 + np.abs(fd_x) + np.abs(fd_y)
    assert np.all((np.abs(np.broadcast_to(gx, x.shape) - fd_x) <= 1e-5 * scale)[smooth])
    assert np.all((np.abs(np.broadcast_to(gy, y.shape) - fd_y) <= 1e-5 * scale)[smooth])
