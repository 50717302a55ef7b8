"""sg.simplify of an expression sympy cannot build is the expression itself, not sympy's exception.

sympy refuses ``Max(x, nan)`` (ValueError) and ``x > nan`` (TypeError) as it builds them, and
``simplify`` converted outside the guard that returns the node when sympy gives up: a nan constant
(``(-0.5)**(2/3)`` folds to one) made ``sg.simplify`` raise sympy's error.
"""

from __future__ import annotations

import pytest

import symgrad as sg


def test_simplify_returns_what_sympy_cannot_build():
    x = sg.symbols("x")
    nan = sg.parse_formula("(-0.5)**(2/3)").value  # folds to nan, as numpy computes it
    for expr in (sg.maximum(x, nan), sg.where(x > nan, x, 1.0)):
        assert sg.simplify(expr) is expr


def test_to_sympy_of_what_sympy_cannot_build_is_a_symgrad_error():
    x, z = sg.symbols("x z")
    nan = sg.parse_formula("(-0.5)**(2/3)").value
    cases = [(sg.maximum(x, nan), "maximum"), (x > nan, "gt"), (sg.relu(sg.sqrt(sg.arctan(sg.minimum(-1, z)))), "relu")]
    for expr, op in cases:  # they raised sympy's ValueError / TypeError, naming sympy's internals
        with pytest.raises(sg.UnsupportedOpError, match=f"{op} in sympy.*sympy cannot build it"):
            sg.to_sympy(expr)
        with pytest.raises(sg.UnsupportedOpError):
            sg.latex(expr)
