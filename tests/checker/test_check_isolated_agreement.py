"""'Right on part of the domain only' needs agreement on a region, not at one point.

3*x claimed for d(x**2)/dx = 2*x is exactly right at x = 0 and nowhere else;
2*x claimed for d(x**2*y)/dx = 2*x*y only on the line y = 1.  Given such a point
with at=, the report used to say the claim "agrees with the derivative at x = 0
... it is right on part of the domain only (a missed case of abs, sign, ...)",
a false hint.  The differences (-x, 2*x*(y - 1)) vanish on no open set.
"""

from __future__ import annotations

import re

import pytest

import symgrad as sg

HINT = "right on part of the domain only"

ISOLATED = [
    ("x**2", "3*x", {"x": 0.0}, "x"),
    ("x**2*y", "2*x", {"x": 1.0, "y": 1.0}, "x"),
    ("x**3", "3*x", {"x": 1.0}, "x"),
]


@pytest.mark.parametrize(("f", "claim", "at", "wrt"), ISOLATED, ids=[c[1] + "@" + str(c[2]) for c in ISOLATED])
def test_agreement_at_an_isolated_point_is_no_branch_hint(f, claim, at, wrt):
    report = sg.check(f, claim, wrt=wrt, at=at)
    assert report.verdict == "wrong", str(report)
    assert HINT not in str(report), str(report)


def test_agreement_on_a_branch_is_still_a_hint():
    report = sg.check("abs(x)", "1", wrt="x")
    assert report.verdict == "wrong" and HINT in str(report), str(report)
    report = sg.check("maximum(x, 1)", "1", wrt="x")
    assert report.verdict == "wrong" and HINT in str(report), str(report)


def test_a_difference_past_the_smallest_float_is_shown_with_its_digits_not_as_minus_zero():
    """The exact difference exp(-1e6*(x - 1/2)**2) at a point far from 1/2 is about 1e-909569, not 0 (it read '-0')."""
    text = str(sg.check("x**2", "2*x + exp(-1e6*(x-0.5)**2)", wrt="x"))
    assert "WRONG" in text
    assert "difference is -0 " not in text and "difference is 0 " not in text
    assert re.search(r"difference is -?\d\.\d+e-\d{4,}", text), text
