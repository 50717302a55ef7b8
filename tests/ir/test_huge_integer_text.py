"""Exact constants past Python's int-to-decimal limit (4,300 digits) build, print and compute; smaller ones read back."""

from __future__ import annotations

import math

import pytest

import symgrad as sg

x = sg.symbols("x")


def test_a_constant_past_the_decimal_limit_builds_prints_and_computes_as_inf():
    e = x + 10**5000  # repr() of the int raised ValueError while the node was hashed
    text = str(e)
    assert "0x" in text  # hex: str() of the int raises
    assert sg.lambdify([x], e)(1.0) == math.inf
    assert sg.lambdify([x], x / 10**6000)(1.0) == 0.0
    assert "0x" in str(x / 10**6000)


@pytest.mark.parametrize("build", [lambda: x + 10**400, lambda: sg.diff(x**200, x, 200), lambda: 3**2000 * x])
def test_hundreds_of_digits_read_back_as_the_same_node(build):
    e = build()  # 200! has 375 digits: the formula reader refused literals past 300
    assert sg.parse_formula(str(e)).value is e


def test_a_decimal_literal_past_pythons_limit_is_a_formula_error():
    with pytest.raises(sg.FormulaError):
        sg.parse_formula("x + " + "9" * 4400)
