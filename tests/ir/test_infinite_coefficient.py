"""An infinite number times a sum stays a product, as sympy keeps ``oo*(x + 1)``.

Distributed, ``inf*(x - 1)`` was ``inf*x - inf``: nan at x = 2, where numpy's
``inf*(2 - 1)`` is inf.  Expectations are numpy's, computed as written.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg

x, y = sg.symbols("x y")
INF = math.inf
CASES = [  # (symgrad expression, the numpy computation it spells)
    (lambda: INF * (x - 1), lambda x, y: np.inf * (x - 1)),
    (lambda: (x + y + 2) * -INF, lambda x, y: (x + y + 2) * -np.inf),
    (lambda: (-0.5 - y) / 0, lambda x, y: np.inf * (-0.5 - y)),
    (lambda: 2 * (INF * (x - 1)) + y, lambda x, y: 2 * (np.inf * (x - 1)) + y),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_an_infinite_number_times_a_sum_computes_as_numpy(case):
    build, spelled = CASES[case]
    f = sg.lambdify([x, y], build())
    for point in [(2.0, -0.8), (0.5, -3.0), (3.0, 1.0)]:
        assert f(*point) == spelled(*point), (build(), point)


def test_the_derivative_of_an_infinite_penalty_computes_as_numpy():
    grad = sg.grad(lambda x: np.inf * (x - 1) ** 2)
    assert grad(2.0) == np.inf * 2 * (2.0 - 1)
