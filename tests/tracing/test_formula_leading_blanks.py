"""A formula with leading blanks parses as eval() and sympify read it (Python's parser took them for an indent)."""

import pytest

import symgrad as sg
from symgrad.cli.main import main


def test_leading_blanks_are_no_indent():
    assert str(sg.parse_formula("  x**2").value) == "x**2"
    assert str(sg.diff(" x**2", "x")) == "2*x"
    assert sg.check("x**2", " 2*x", wrt="x")


def test_errors_after_leading_blanks_name_the_right_column():
    with pytest.raises(sg.FormulaError) as info:
        sg.parse_formula(" x +* 2")
    assert info.value.position == 4 and info.value.token == "*"
    with pytest.raises(sg.FormulaError) as info:
        sg.parse_formula("  sin(x, y)")
    assert info.value.position == 2


def test_cli_claim_with_a_leading_blank(capsys):
    assert main(["check", "x**2", "--wrt", "x", "--claimed", " 2*x"]) == 0
