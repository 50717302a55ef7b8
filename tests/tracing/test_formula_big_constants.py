"""Exact integer constants beyond float range in formulas and expressions: folded as Python folds them, never crashing."""

import numpy as np

import symgrad as sg
from symgrad.cli.main import main


def _value_and_slope(text, at):
    f = sg.parse_formula(text)
    x = f.symbols["x"]
    return sg.compile([f.value, sg.diff(f.value, x)], inputs=[x])(at)


def test_powers_past_exponent_64_are_exact_as_in_python():
    # 2**1100 and 10**300 went through a float (inf), so these exact formulas gave nan
    assert _value_and_slope("2**1100/2**1099*x", 3.0) == (6.0, 2.0)
    assert _value_and_slope("x*10**300*10**300/10**600", 3.0) == (3.0, 1.0)
    assert _value_and_slope("x*2**2000 - x*2**2000 + x", 3.0) == (3.0, 1.0)


def test_minus_one_to_a_huge_odd_power_is_minus_one():
    # float(10**18 + 1) is the even 1e18: the sign was lost
    assert float(sg.parse_formula("(-1)**(10**18+1)").value) == -1.0
    assert _value_and_slope("(-1)**(10**18+1)*x", 2.0) == (-2.0, -1.0)
    X = sg.symbols("X")
    assert str(sg.diff((-X) ** (10**18 + 1), X)) == "-1000000000000000001*X**1000000000000000000"


def test_exact_constants_beyond_float_range_compile_to_inf():
    X = sg.symbols("X")
    with np.errstate(all="ignore"):
        assert sg.compile(X * 2**4000, inputs=[X])(1.0) == np.inf
        assert _value_and_slope("(2**64)**64*x", 1.0) == (np.inf, np.inf)


def test_cli_huge_exact_constant_is_no_internal_error(capsys):
    assert main(["grad", "(2**64)**64*x", "--at", "x=1"]) == 0
    assert main(["codegen", "(2**64)**64*x"]) == 0
