"""Values on the command line: infinite claims in ``check``, non-finite points in ``--json``, repeated names.

Run in-process through :func:`symgrad.cli.main.main`; expectations are plain arithmetic (d/dx x**2 = 2x).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import main as cli


@pytest.mark.parametrize("claimed", ["inf", "-inf", "[2, inf]"])
def test_an_infinite_claimed_value_is_wrong(claimed, capsys):
    """|2 - inf| <= rtol*max(2, inf) held, so a claim of inf for d/dx x**2 = 2 at x = 1 was judged right."""
    wrt = "x,y" if claimed.startswith("[") else "x"
    assert cli.main(["check", "x**2 + y", "--wrt", wrt, "--claimed", claimed, "--at", "x=1", "y=0"]) == 1
    out = capsys.readouterr().out
    assert "WRONG" in out and "oo" not in out  # no sympy infinity as a "constant factor"
    x = sg.symbols("x")
    assert not sg.check(x**2, claimed.replace("[2, ", "").rstrip("]"), wrt=x, at={x: 1.0})


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_writes_a_non_finite_point_as_strings(capsys):
    """--at x=nan printed "at": {"x": NaN}, which is not JSON; values were already the strings "nan", "inf"."""
    assert cli.main(["grad", "x*y", "--at", "x=nan", "y=-inf", "--json"]) == 0
    assert _strict_json(capsys.readouterr().out)["at"] == {"x": "nan", "y": "-inf"}
    argv = ["hessian", "a[0, 1]*b", "--shape", "a=2x2", "--at", "a=[[nan, inf], [1, -2]]", "b=3", "--json"]
    assert cli.main(argv) == 0
    data = _strict_json(capsys.readouterr().out)
    assert data["at"] == {"a": [["nan", "inf"], [1.0, -2.0]], "b": 3.0} and data["value"] == "inf"


def test_a_shape_given_twice_is_refused(capsys):
    """--shape x=2 --shape x=3 silently kept the last shape, as --at x=1 x=2 once kept the last value."""
    assert cli.main(["grad", "sum(x)", "--shape", "x=2", "--shape", "x=3"]) == cli.EXIT_USAGE
    assert "gives x twice" in capsys.readouterr().err
    assert cli.main(["grad", "sum(x) + y[0]", "--shape", "x=2", "--shape", "y=3"]) == cli.EXIT_OK


@pytest.mark.parametrize("claimed", ["inf", "-inf", "nan", "inf*x"])
def test_a_non_finite_claim_is_not_off_by_a_factor(claimed, capsys):
    """The diagnosis read "misses the factor 0 (correct = claimed * 0)" for inf, "the factor nan" for nan."""
    assert cli.main(["check", "x**2", "--wrt", "x", "--claimed", claimed]) == cli.EXIT_CHECK_FAILED
    out = capsys.readouterr().out
    assert "WRONG" in out and "factor" not in out


@pytest.mark.parametrize(
    ("formula", "x"),
    [("sqrt(x)**2", -1.0), ("(x**2 - 1)/(x - 1)", 1.0), ("log(x**2)/2 + sqrt(x)*sqrt(x)", -2.0)],
)
def test_values_at_a_point_are_the_built_derivatives_not_the_simplified_ones(formula, x, capsys):
    """The values came from the sympy-simplified formulas printed beside them: sqrt(x)**2 printed as x had
    df/dx = 1 at x = -1, where sg.grad (and numpy, and JAX) give nan, and f itself was nan."""
    assert cli.main(["grad", formula, "--at", f"x={x}", "--json"]) == 0
    data = _strict_json(capsys.readouterr().out)
    with np.errstate(all="ignore"):
        parsed = sg.parse_formula(formula)
        f = sg.lambdify([parsed.symbols["x"]], parsed.value)
        assert np.isnan(f(np.float64(x)))  # numpy: f is nan at the point (sqrt(-1), 0/0), so is its derivative
    assert data["value"] == "nan" and data["results"][0]["value"] == "nan"


@pytest.mark.parametrize("value", ["10**400", "-2**1024", "[1, 10**400]"])
def test_an_exact_point_value_past_the_float_range_is_refused(value, capsys):
    """--at x=10**400 was evaluated at x = inf (exit 0): the refusal 'too large for a float' never ran, as
    float(node) rounds an exact constant to inf.  float(10**400) and np.float64(10**400) raise OverflowError."""
    with pytest.raises(OverflowError):
        float(sg.parse_formula(value.strip("[]").split(", ")[-1]).value.value)
    shape = ["--shape", "x=2"] if value.startswith("[") else []
    assert cli.main(["grad", "sum(x**2)" if shape else "x**2", *shape, "--at", f"x={value}"]) == 2
    assert "too large for a float" in capsys.readouterr().err


def test_a_point_outside_the_domain_reports_nan_without_numpys_warning(capsys):
    """log(x) at x = -1 printed numpy's RuntimeWarning, citing the generated module ('<symgrad 5c65...>:19:')."""
    with np.errstate(all="warn"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["grad", "log(x) + sqrt(x)", "--at", "x=-1"]) == 0
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    out = capsys.readouterr().out
    assert "f     = nan" in out and out.rstrip().endswith("= nan")
