"""A derivative whose values are all tiny: the absolute tolerance is relative to its size.

With a fixed atol of 1e-9, every claim for ``1e-12*x**2`` (values below 2e-9 on
|x| <= 1e3) was "right": ``3e-12*x``, ``-2e-12*x`` and ``0`` alike.  The expected
verdicts come from sympy, independently of symgrad.
"""

from __future__ import annotations

import pytest
import sympy as sp

import symgrad as sg

X = sp.Symbol("x")

CASES = [
    ("1e-12*x**2", "3e-12*x"),
    ("1e-12*x**2", "0"),
    ("1e-12*x**2", "2e-12*x + 1e-15"),
    ("exp(-30)*x**2", "0"),
    ("exp(-30)*x**2", "3*exp(-30)*x"),
    ("1e-12*x**2", "2e-12*x"),
    ("exp(-30)*x**2", "2*x*exp(-30)"),
    ("1e-12*sin(x)", "1e-12*cos(x)"),
    ("1e-12*sin(x)", "1e-12*sin(x + pi/2)"),
    ("1e-12*sin(x)**2", "1e-12*sin(2*x)"),
]


def _truly_right(f: str, claim: str) -> bool:
    d = sp.diff(sp.sympify(f), X) - sp.sympify(claim)
    return sp.simplify(sp.nsimplify(d, rational=True)) == 0


@pytest.mark.parametrize(("f", "claim"), CASES, ids=[f"{f}|{c}" for f, c in CASES])
def test_a_tiny_derivative_is_judged_relative_to_its_size(f, claim):
    expected = "right" if _truly_right(f, claim) else "wrong"
    report = sg.check(f, claim, wrt="x")
    assert report.verdict == expected, str(report)
