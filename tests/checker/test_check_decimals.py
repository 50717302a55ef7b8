"""Claims written with decimals: their float rounding is forgiven, a mistake in a decimal is not.

The difference of a claim with decimals used to be judged, even in exact
arithmetic, with the numeric tolerance (rtol 1e-7), so ``2.0000001*x`` for
``x**2`` and ``2*x + 1e-9*x`` were "right".  The expected verdicts come from
sympy, reading each decimal as the exact number it spells.
"""

from __future__ import annotations

import pytest
import sympy as sp
from sympy.parsing.sympy_parser import parse_expr, rationalize, standard_transformations

import symgrad as sg

X = sp.Symbol("x")

CASES = [
    ("x**2", "2.0000001*x"),
    ("x**2", "2*x + 1e-9*x"),
    ("x**3", "3*x**2 + 1e-9*x"),
    ("exp(x)", "1.00000001*exp(x)"),
    ("sin(x)", "0.9999999*cos(x)"),
    ("x**2/3", "0.6666666*x"),
    # right: decimals whose float rounding differs from the derivative's own (0.1*3 is 0.30000000000000004)
    ("0.1*x**3", "0.3*x**2"),
    ("0.1*(x - 3)*(x - 6)*(x - 4)", "0.3*x**2 - 2.6*x + 5.4"),
    ("x**1.5", "1.5*x**0.5"),
    ("0.5*x**2 + 0.7*x", "x + 0.7"),
]


def _exact(text: str):
    """The formula with each decimal literal read as the exact rational it spells (the test's own fixed strings)."""
    return parse_expr(text, {"x": X}, transformations=(*standard_transformations, rationalize))


def _truly_right(f: str, claim: str) -> bool:
    return sp.simplify(sp.diff(_exact(f), X) - _exact(claim)) == 0


@pytest.mark.parametrize(("f", "claim"), CASES, ids=[f"{f}|{c}" for f, c in CASES])
def test_a_claim_with_decimals_is_judged_by_the_numbers_it_spells(f, claim):
    expected = "right" if _truly_right(f, claim) else "wrong"
    report = sg.check(f, claim, wrt="x")
    assert report.verdict == expected, str(report)
