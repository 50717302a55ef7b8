"""gradcheck at inputs closer to the edge of fn's domain than the step: log or sqrt of 1e-7.

The step eps * max(1, |x|) (6e-6) reaches past 0 from x = 1e-7, so the central
difference was nan and a right gradient was called WRONG.  The gradients here
are checked first against a central difference with a step relative to x.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

CASES = [
    ("log", lambda x: np.sum(np.log(x)), lambda x: 1 / x, np.array([1e-7, 2.0])),
    ("sqrt", lambda x: np.sum(np.sqrt(x)), lambda x: 0.5 / np.sqrt(x), np.array([1e-6, 3.0])),
    ("xlogx", lambda x: np.sum(x * np.log(x)), lambda x: np.log(x) + 1, np.array([3e-8, 0.5])),
    ("log1p", lambda x: np.sum(np.log1p(x)), lambda x: 1 / (1 + x), np.array([-1 + 1e-7, 0.5])),
]


def _central(fn, x: np.ndarray) -> np.ndarray:
    """Each entry's central difference, fn taken on that entry alone (each fn is a sum of one term per entry)."""
    out = np.empty_like(x)
    for i, v in enumerate(x):
        h = 1e-6 * min(abs(v), abs(v + 1))  # inside the domain of each case
        up, down = v + h, v - h
        out[i] = (fn(np.array([up])) - fn(np.array([down]))) / (up - down)
    return out


@pytest.mark.parametrize(("name", "fn", "grad", "x"), CASES, ids=[c[0] for c in CASES])
def test_a_right_gradient_beside_a_domain_edge_is_right(name, fn, grad, x):
    np.testing.assert_allclose(grad(x), _central(fn, x), rtol=1e-6)
    report = sg.gradcheck(fn, grad, x)
    assert report.ok, str(report)


@pytest.mark.parametrize(("name", "fn", "grad", "x"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_gradient_beside_a_domain_edge_is_wrong(name, fn, grad, x):
    report = sg.gradcheck(fn, lambda v: grad(v) * np.array([1.001, 1.0]), x)
    assert not report.ok, str(report)
