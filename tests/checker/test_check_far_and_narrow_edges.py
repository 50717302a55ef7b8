"""The checker never calls a wrong claim right: errors beyond |x| = 1e3, inside a narrow branch near 0 or beside an edge, and a wrt of several names."""

import pytest

import symgrad as sg

WRONG = [
    ("maximum(x, 2000)", "0"),
    ("minimum(x, 1e4)", "1"),
    ("relu(x - 5000)", "0"),
    ("clip(x, -1e4, 1e4)", "1"),
    ("where(x < -2000, -x, x)", "1"),
    ("where(abs(x) <= 1e4, x**2/2, 1e4*abs(x) - 5e7)", "x"),  # Huber loss with delta 1e4, linear branch ignored
    ("where(x*y > 1e7, x, 0)", "0"),
    ("maximum(x*y, 2e6)", "0"),
    # a series branch near 0 with a wrong derivative there
    ("where(abs(x) < 1e-3, 1 - x**2/6, sin(x)/x)", "where(abs(x) < 1e-3, -x/6, (x*cos(x) - sin(x))/x**2)"),
    ("where(abs(x) < 1e-4, 1 - x**2/6, sin(x)/x)", "where(abs(x) < 1e-4, 0, (x*cos(x) - sin(x))/x**2)"),
    ("x**3", "3*x**2 + where(abs(x) < 1e-4, 1, 0)"),
    # wrong only on a narrow interval that starts at an edge of the domain or of a branch (relative width < 1e-3)
    ("arcsin(x)", "1/sqrt(1 - x**2) + where(x > 0.999, 1, 0)"),
    ("arcsin(x)", "1/sqrt(1 - x**2) + where(x < -0.9999, 1, 0)"),
    ("arccosh(x)", "1/sqrt(x**2 - 1) + where(x < 1.001, 1, 0)"),
    ("x**2", "2*x + where(abs(x - 17.3) < 1e-3, 1, 0)"),
]


@pytest.mark.parametrize(("f", "claim"), WRONG)
def test_wrong_claim_is_not_right(f, claim):
    report = sg.check(f, claim, wrt="x")
    assert not report, str(report)


RIGHT = [
    ("maximum(x, y)", "where(x > y, 1, 0)"),  # differs only at the tie
    ("where(abs(x) < 1e-3, 1 - x**2/6, sin(x)/x)", "where(abs(x) < 1e-3, -x/3, (x*cos(x) - sin(x))/x**2)"),
    ("clip(x, -1e4, 1e4)", "where(abs(x) < 1e4, 1, 0)"),
    ("arcsin(x)", "where(x > 0.999, 1/sqrt((1 - x)*(1 + x)), 1/sqrt(1 - x**2))"),
    ("arccosh(x)", "where(x < 1.001, 1/(sqrt(x - 1)*sqrt(x + 1)), 1/sqrt(x**2 - 1))"),
]


@pytest.mark.parametrize(("f", "claim"), RIGHT)
def test_right_claim_stays_right(f, claim):
    report = sg.check(f, claim, wrt="x")
    assert report, str(report)


@pytest.mark.parametrize("wrt", ["x y", "x, y"])
def test_wrt_names_several_variables_as_symbols_does(wrt):
    assert sg.check("x**2*y", "[2*x*y, x**2]", wrt=wrt)
    assert not sg.check("x**2*y", "[2*x*y, x**3]", wrt=wrt)
    with pytest.raises(sg.InputError, match="2 variables"):
        sg.check("x**2*y", "0", wrt=wrt)  # was checked as d/d(a symbol named "x y"): 0, right


@pytest.mark.parametrize("wrt", ["x[", "1x", ""])
def test_wrt_that_is_no_symbol_name_is_refused(wrt):
    with pytest.raises(sg.InputError, match="not a symbol name"):
        sg.check("x**2*y", "0", wrt=wrt)
