"""A constant -0.0 keeps its sign, as numpy computes with it.

``normalize_number`` made every zero the integer 0, so a literal -0.0 became +0: ``sg.arctan2(-0.0, x)``
at x = -1 gave pi where numpy gives -pi, ``1/c`` of a -0.0 constant +inf instead of -inf (and exp of it
inf instead of 0), and folding ``sg.arctan2(-0.0, -1.0)`` itself gave pi.  Expectations are numpy's.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir import builders as B
from symgrad.ir.evaluate import evaluate

X = sg.symbols("x")
NEG0 = -0.0
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler"))]
CASES = [  # (symgrad expression, the numpy computation it spells)
    (lambda: sg.arctan2(NEG0, X), lambda x: np.arctan2(NEG0, x)),
    (lambda: sg.arctan2(X, NEG0), lambda x: np.arctan2(x, NEG0)),
    (lambda: sg.exp(sg.reciprocal(sg.sin(NEG0))) + X, lambda x: np.exp(1 / np.sin(NEG0)) + x),
    (lambda: sg.arctan2(2 * sg.stop_gradient(NEG0), X), lambda x: np.arctan2(2 * NEG0, x)),
    (lambda: sg.where(X > 0, NEG0, 1.0) * 0 + sg.arctan2(sg.where(X > 0, NEG0, 1.0), -1.0), None),
]


def _same(got, want) -> None:
    np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float))  # -pi is not pi


def test_folding_keeps_the_sign():
    _same(float(sg.arctan2(NEG0, -1.0)), np.arctan2(NEG0, -1.0))
    with np.errstate(divide="ignore"):
        _same(float(sg.reciprocal(sg.arctan(NEG0))), np.float64(1) / np.arctan(NEG0))
    assert np.signbit(float(sg.parse_formula("-0.0").value))


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_and_the_reference_compute_with_minus_zero(backend):
    x = np.array([-1.0, 2.0, -0.0, 0.0])
    with np.errstate(all="ignore"):
        for build, spelled in CASES[:4]:
            expr, want = build(), spelled(x)
            _same(np.broadcast_to(evaluate([expr], {X: x})[0], x.shape), want)
            f = sg.compile(expr, inputs=[X], backend=backend)
            _same(np.broadcast_to(f(x), x.shape), want)
            if backend == "numpy":
                _same([f(float(v)) for v in x], want)  # the float path


def test_text_reads_back_with_the_sign():
    for build, _ in CASES:
        expr = build()
        assert sg.parse_formula(str(expr)).value is expr, str(expr)


def test_a_minus_zero_base_of_a_power_is_parenthesised():
    """(-0.0)**x printed as -0.0**x, which Python and the parser read as -(0.0**x): 0 at x = 1 became -0.0, inf
    at x = -1 became -inf, 1 at x = 0 became -1."""
    expr = B.pow(NEG0, X)
    assert str(expr) == "(-0.0)**x"
    back = sg.parse_formula(str(expr)).value
    x = np.array([1.0, -1.0, 0.0, 2.0])
    with np.errstate(divide="ignore"):
        _same(np.broadcast_to(evaluate([back], {X: x})[0], x.shape), np.power(NEG0, x))
    assert str(expr * X) == "(-0.0)**x*x"  # as sympy prints 2**x*x
