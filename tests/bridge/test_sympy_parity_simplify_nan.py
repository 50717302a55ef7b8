"""sg.simplify of an expression sympy cannot build is the expression itself, not sympy's exception.

sympy refuses ``Max(x, nan)`` (ValueError) and ``x > nan`` (TypeError) as it builds them, and
``simplify`` converted outside the guard that returns the node when sympy gives up: a nan constant
(``(-0.5)**(2/3)`` folds to one) made ``sg.simplify`` raise sympy's error.
"""

from __future__ import annotations

import symgrad as sg


def test_simplify_returns_what_sympy_cannot_build():
    x = sg.symbols("x")
    nan = sg.parse_formula("(-0.5)**(2/3)").value  # folds to nan, as numpy computes it
    for expr in (sg.maximum(x, nan), sg.where(x > nan, x, 1.0)):
        assert sg.simplify(expr) is expr
