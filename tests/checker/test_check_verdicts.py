"""Issue 14: the exercise checker never calls a wrong derivative right.

Each case of the issue's "What was found" list, through the Python API and the
command line (in-process ``main([...])`` for exit codes, one real subprocess):
claims wrong only for x < 0, functions that live only for x > 5, ``at=``
ignored, a number given with ``--at`` read as a constant formula, verdicts that
never said how they were decided, multi-part claims, claimed Hessians.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli.main import main

x, y = sg.symbols("x y")


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert "Traceback" not in err.getvalue()
    return code, out.getvalue() + err.getvalue()


# -- claims wrong only for x < 0: every point used to be positive ----------------------------------------

WRONG_FOR_NEGATIVE_X = [
    (sg.abs(x), "1"),
    (sg.relu(x), "1"),
    (x * sg.abs(x), "2*x"),
    (sg.log(sg.abs(x)), "1/abs(x)"),
    (sg.maximum(x, 0) ** 2, "2*x"),
]


@pytest.mark.parametrize(("f", "claim"), WRONG_FOR_NEGATIVE_X, ids=[c for _, c in WRONG_FOR_NEGATIVE_X])
def test_a_claim_wrong_only_for_negative_x_is_wrong(f, claim):
    report = sg.check(f, claim, wrt=x)
    assert not report and report.verdict == "wrong", str(report)
    (c,) = report.components
    assert c.witness["x"] < 0
    assert "right on part of the domain only" in str(report)


def test_the_right_claims_for_the_kinks_are_right():
    assert sg.check(sg.abs(x), "sign(x)", wrt=x)
    assert sg.check(sg.relu(x), "x > 0", wrt=x)
    assert sg.check(x * sg.abs(x), "2*abs(x)", wrt=x)
    assert sg.check(sg.log(sg.abs(x)), "1/x", wrt=x)
    assert sg.check(sg.maximum(x, 0) ** 2, "2*relu(x)", wrt=x)


def test_cli_abs_claimed_one_exits_1():
    code, out = cli("check", "abs(x)", "--wrt", "x", "--claimed", "1")
    assert code == 1 and "WRONG" in out


# -- functions that live only on part of the line --------------------------------------------------------


def test_sqrt_of_x_minus_5_is_compared_inside_its_domain():
    report = sg.check(sg.sqrt(x - 5), "1", wrt=x)
    assert not report
    (c,) = report.components
    assert c.method.startswith("decided symbolically")  # 1/(2*sqrt(x - 5)) - 1 is exactly nonzero at a point
    assert c.witness["x"] > 5 and np.isfinite(c.correct_value)
    assert "random points" not in str(report)


def test_sqrt_of_x_squared_minus_9_claimed_x_is_wrong():
    report = sg.check(sg.sqrt(x**2 - 9), "x", wrt=x)
    assert not report
    assert abs(report.components[0].witness["x"]) > 3


def test_right_claims_inside_a_domain_are_right_and_say_how_many_points():
    assert sg.check(sg.sqrt(x - 5), "1/(2*sqrt(x - 5))", wrt=x)
    report = sg.check(sg.log(sg.abs(x)), "where(x > 0, 1/x, -1/abs(x))", wrt=x)
    assert report, str(report)
    assert "decided numerically at" in report.components[0].method


def test_no_point_in_the_domain_gives_undecided_never_right():
    report = sg.check(sg.sqrt(-(x**2) - 1), "1", wrt=x)
    assert not report and report.verdict == "undecided"
    text = str(report)
    assert "UNDECIDED" in text and "no point was found" in text and "equal" not in text
    assert json.loads(json.dumps(report.to_dict()))["components"][0]["verdict"] == "undecided"
    code, out = cli("check", "sqrt(-x**2 - 1)", "--wrt", "x", "--claimed", "1")
    assert code == 1 and "UNDECIDED" in out


def test_a_number_at_a_point_outside_the_domain_is_undecided():
    report = sg.check(sg.sqrt(x), 0.5, wrt=x, at={"x": -1})
    assert not report and report.verdict == "undecided"


@pytest.mark.parametrize(
    ("f", "ref", "derivative", "at"),
    [
        ("log(x)", np.log, lambda t: 1 / t, -2.0),
        ("arctanh(x)", np.arctanh, lambda t: 1 / (1 - t**2), 2.0),
        ("log1p(x)", np.log1p, lambda t: 1 / (1 + t), -3.0),
    ],
)
def test_a_number_where_f_is_undefined_but_its_derivative_finite_is_undecided(f, ref, derivative, at):
    """d/dx log(x) = 1/x is -0.5 at x = -2, where log is not defined: that was 'right'."""
    with np.errstate(invalid="ignore"):
        assert np.isnan(ref(at)) and np.isfinite(derivative(at))
    report = sg.check(f, derivative(at), wrt="x", at={"x": at})
    assert not report and report.verdict == "undecided", str(report)


# -- at= and --at ---------------------------------------------------------------------------------------------


def test_at_is_honoured_for_a_formula_claim():
    assert not sg.check(sg.relu(x), "1", wrt=x, at={"x": -1})
    report = sg.check(sg.relu(x), "x > 0", wrt=x, at={"x": -1})
    assert report
    (c,) = report.components
    assert "and the given point" in c.method or c.method.startswith("decided symbolically")
    assert c.point == {"x": -1.0} and c.correct_value == 0 and c.claimed_value == 0
    assert "at x = -1: correct 0, claimed 0" in str(report)


def test_at_is_among_the_points_compared():
    # wrong only on (-1.001, -0.999): the given point falls in it
    claim = "where(abs(x + 1) < 0.001, 5, x > 0)"
    report = sg.check(sg.relu(x), claim, wrt=x, at={"x": -1})
    assert not report
    assert report.components[0].point == {"x": -1.0}


def test_a_number_given_with_at_is_a_value_there():
    a, b = sg.symbols("a b")
    assert sg.check(3 * a**3 - b**2, "-12", wrt=b, at={"a": 2, "b": 6})
    assert not sg.check(3 * a**3 - b**2, "-13", wrt=b, at={"a": 2, "b": 6})
    code, out = cli("check", "3*a**3 - b**2", "--wrt", "b", "--claimed", "-12", "--at", "a=2", "b=6")
    assert code == 0 and "right" in out
    code, out = cli("check", "3*a**3 - b**2", "--wrt", "b", "--claimed", "-11", "--at", "a=2", "b=6")
    assert code == 1 and "correct -12, claimed -11" in out


def test_subprocess_python_dash_m_symgrad_check_exit_codes():
    base = [sys.executable, "-m", "symgrad", "check"]
    argv = [*base, "relu(x)", "--wrt", "x", "--claimed", "1"]
    wrong = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 1 and "WRONG" in wrong.stdout, wrong.stderr


# -- how it was decided ---------------------------------------------------------------------------------------


def test_each_verdict_says_how_it_was_decided():
    symbolic = sg.check(x**3, "3*x**2", wrt=x).components[0].method
    assert symbolic == "decided symbolically: the difference simplifies to 0"
    exact = sg.check(sg.sqrt(x - 5), "1", wrt=x).components[0].method
    assert exact.startswith("decided symbolically: in exact arithmetic the difference is")
    numeric = sg.check(sg.log(sg.abs(x)), "1/x", wrt=x).components[0].method
    assert numeric.startswith("decided numerically at ") and " points" in numeric


# -- multi-part claims, Jacobians, Hessians -------------------------------------------------------------------


def test_cli_bracketed_claims_one_per_variable():
    assert cli("check", "3*a**3 - b**2", "--wrt", "a,b", "--claimed", "[9*a**2, -2*b]")[0] == 0
    argv = ["check", "3*a**3 - b**2", "--wrt", "a,b", "--shape", "a=2", "b=2"]
    assert cli(*argv, "--claimed", "[9*a**2, -2*b]")[0] == 0
    code, out = cli(*argv, "--claimed", "[9*a**2, 2*b]")
    assert code == 1 and "df/db: WRONG" in out and "df/da: right" in out
    code, out = cli(
        "check", "sum(a**3) - sum(b**2)", "--shape", "a=2", "b=3", "--wrt", "a,b", "--claimed", "[3*a**2, -2*b]"
    )
    assert code == 0, out


def test_a_claimed_jacobian_is_checked_entry_by_entry():
    F = np.array([x * y, sg.sin(x)], dtype=object)
    assert sg.check(F, [["y", "x"], ["cos(x)", 0]], wrt=[x, y])
    report = sg.check(F, "[[y, x], [cos(x), 1]]", wrt=[x, y])
    assert [c.ok for c in report.components] == [True, False]
    assert "wrong at entry (1,)" in str(report)


def test_a_claimed_hessian_names_each_wrong_entry():
    a, b = sg.symbols("a b")
    f = a**3 * b**2
    right = [["6*a*b**2", "6*a**2*b"], ["6*a**2*b", "2*a**3"]]
    report = sg.check(f, right, wrt=[a, b], order=2)
    assert report and [c.name for c in report.components] == ["d2f/da2", "d2f/dadb", "d2f/dbda", "d2f/db2"]
    wrong = [["6*a*b**2", "6*a**2*b"], ["3*a**2*b", "2*a**3"]]
    report = sg.check(f, wrong, wrt=[a, b], order=2)
    assert [c.name for c in report.components if not c.ok] == ["d2f/dbda"]
    assert sg.check(f, np.array([[48.0, 48.0], [48.0, 16.0]]), wrt=[a, b], order=2, at={"a": 2, "b": 2})
    with pytest.raises(sg.ShapeError, match="2 x 2"):
        sg.check(f, [["6*a*b**2"]], wrt=[a, b], order=2)


def test_cli_hessian_and_higher_order():
    argv = ["check", "x**3*y + y**2", "--wrt", "x,y", "--order", "2"]
    assert cli(*argv, "--claimed", "[[6*x*y, 3*x**2], [3*x**2, 2]]")[0] == 0
    code, out = cli(*argv, "--claimed", "[[6*x*y, 3*x**2], [3*x, 2]]")
    assert code == 1 and "d2f/dydx: WRONG" in out and "d2f/dxdy: right" in out
    assert cli(*argv, "--claimed", "[[12, 12], [12, 2]]", "--at", "x=2", "y=1")[0] == 0
    assert cli("check", "x**4", "--wrt", "x", "--order", "3", "--claimed", "24*x")[0] == 0
    code, out = cli("check", "x**4", "--wrt", "x", "--order", "3", "--claimed", "24*x", "--json")
    assert code == 0 and json.loads(out)["components"][0]["name"] == "d3f/dx3"


# -- float overflow in a right claim is not a wrong value ------------------------------------------------


def test_a_right_claim_that_overflows_in_floats_is_right():
    """exp(x)/(exp(x) + exp(y)) is nan at x = 740 in floats (inf/inf) and about 1 in fact."""
    report = sg.check(sg.logsumexp([x, y]), "exp(x)/(exp(x) + exp(y))", wrt=x)
    assert report.ok and report.verdict == "right"
    assert any("overflows in floating point" in n for c in report.components for n in c.notes)
    code, out = cli("check", "logsumexp([x, y])", "--wrt", "x", "--claimed", "exp(x)/(exp(x)+exp(y))")
    assert code == 0, out


def test_overflow_is_evaluated_exactly_not_skipped():
    """A claim wrong only where it overflows is still compared there (with its exact value) and called wrong."""
    report = sg.check(sg.sigmoid(x), "exp(x)/(1 + exp(x))**2 + where(x > 600, 1, 0)", wrt=x)
    assert not report.ok and report.verdict == "wrong"
    # undefined, not overflowing: sqrt of a negative number has no exact real value and stays a mismatch
    assert not sg.check(sg.abs(x), "sqrt(x)/sqrt(x)", wrt=x).ok


def test_agreement_in_an_underflowed_tail_is_not_called_partial_rightness():
    """softmax'(x) claimed as s(1 + s) matches at x = -779 only because both underflow: no "right on part" there."""
    report = str(sg.check(sg.softmax([x, y])[0], "softmax([x, y])[0]*(1 + softmax([x, y])[0])", wrt=x))
    assert "WRONG" in report and "right on part of the domain" not in report
    # an exact zero is telling: relu' claimed 0 is right for x < 0
    relu_zero = str(sg.check(sg.relu(x), "0", wrt=x))
    assert "right on part of the domain" in relu_zero and "x = -" in relu_zero.split("agrees with the derivative at")[1]


def test_agreement_within_the_tolerance_is_not_called_partial_rightness():
    """A claim missing a term (4*x2 of d/dx1 of N6) agrees numerically wherever that term is small next to the rest.

    At x1 = -595, x2 = 0.0017 the missing 4*x2 = 0.007 is within rtol of 3*x1**2 = 1.06e6; the exact
    difference 4*x2 is nonzero there, so it is no point where the claim is right, and a polynomial has no
    "missed case of abs, relu ..." to speak of.
    """
    report = str(sg.check("x1**3 + x2**2 + 4*x1*x2 + 5", "3*x1**2", wrt="x1", at={"x1": 3, "x2": 4}))
    assert "WRONG" in report and "missing term from 4*x1*x2: 4*x2" in report
    assert "right on part of the domain" not in report
    # the same for a claim off by a small relative amount everywhere but at no point exactly right
    assert "right on part of the domain" not in str(sg.check(x**3, "3*x**2 + 1", wrt=x))
