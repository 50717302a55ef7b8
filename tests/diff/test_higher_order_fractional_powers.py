"""Derivatives of order 3 and more of a fractional power whose base vanishes: finite where sympy's are.

Taylor mode builds every order past 2; its power recurrence divided by the base, so where
the base of ``maximum(sin(x), 0)**4.5`` is 0 (all of x < 0, where the power is flat) the
third derivative was nan instead of 0, and so was ``sin(x)**4.5``'s at x = 0.
"""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad as sg
from symgrad.diff.reverse import derivative_tensor

X = sg.symbols("x")
SX = sp.Symbol("x", real=True)


@pytest.mark.parametrize("k", [3, 4])
def test_flat_power_of_a_vanishing_base_has_zero_derivatives(k):
    e = sg.maximum(sg.sin(X), 0) ** 4.5
    want = sp.diff(sp.Max(sp.sin(SX), 0) ** sp.Rational(9, 2), SX, k)
    for d in (sg.diff(e, X, k), e.diff(X, k), derivative_tensor(e, [X], k)[(0,) * k]):
        f = sg.lambdify([X], d)
        for p in (-1.0, -2.5, 0.5, 1.5):
            assert float(f(p)) == pytest.approx(float(want.subs(SX, p)), rel=1e-12, abs=1e-12), (k, p)
    assert sg.derivative(lambda x: sg.maximum(sg.sin(x), 0) ** 4.5, k)(-1.0) == 0


@pytest.mark.parametrize("k", [3, 4])
def test_power_at_the_edge_of_its_domain_is_the_one_sided_limit(k):
    want = float(sp.limit(sp.diff(sp.sin(SX) ** sp.Rational(9, 2), SX, k), SX, 0, "+"))
    assert want == 0
    assert float(sg.lambdify([X], sg.diff(sg.sin(X) ** 4.5, X, k))(0.0)) == want


@pytest.mark.parametrize(("k", "n"), [(3, 3.0), (3, 4.5), (4, 4.0), (4, 6.5), (6, 6.0), (6, 7.5)])
def test_symbolic_exponent_at_a_vanishing_base(k, n):
    """``x**n`` and ``sin(x)**n`` with the exponent a symbol: Taylor mode divided by the base, nan at x = 0.

    Want: ``n (n-1) ... (n-k+1) x**(n-k)`` at 0 and sympy's one-sided limit of ``sin(x)**n``'s derivative.
    """
    n_sym = sg.symbols("n")
    for e, se in ((X**n_sym, SX ** sp.nsimplify(n)), (sg.sin(X) ** n_sym, sp.sin(SX) ** sp.nsimplify(n))):
        want = float(sp.limit(sp.diff(se, SX, k), SX, 0, "+"))
        assert float(sg.lambdify([X, n_sym], sg.diff(e, X, k))(0.0, n)) == want, (e, k, n)
        at = float(sp.diff(se, SX, k).subs(SX, 0.7))
        assert float(sg.lambdify([X, n_sym], sg.diff(e, X, k))(0.7, n)) == pytest.approx(at, rel=1e-12)
