"""The order policy: which machinery builds a derivative of a given order, decided in one place.

A first derivative uses reverse mode, whose formulas read best.  A second one
builds both reverse-over-reverse and Taylor mode and keeps the smaller graph.
Higher orders use Taylor mode, because repeated reverse mode swells
geometrically with the order and Taylor mode does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..errors import DiffError
from ..ir.node import Node, toposort
from ..limits import charge
from .reverse import check_variables, gradient_nodes
from .taylor import nth_derivative


def variable_runs(spec: Sequence) -> list[list]:
    """sympy's ``x, 3, y`` as ``[[x, 3], [y, 1]]``: each variable and how many times (0: not at all)."""
    runs: list[list] = []
    for item in spec:
        if isinstance(item, int) and not isinstance(item, bool):
            if not runs:
                raise DiffError("a derivative order must follow the variable it applies to")
            if item < 0:
                raise DiffError(f"derivative order must be >= 0, got {item}")
            charge(item, "nodes (a derivative of order k builds at least k)")  # before a list of k variables
            runs[-1][1] += item - 1
        else:
            runs.append([item, 1])
    return runs


def diff_spec(expr: Node, spec: Sequence) -> Node:
    """sympy's calling convention: ``diff(e, x)``, ``diff(e, x, 3)``, ``diff(e, x, x, y)``."""
    variables: list[Node] = [v for v, k in variable_runs(spec) for _ in range(k)]
    if not spec:
        free = [n for n in toposort([expr]) if n.op == "sym"]
        if len(free) != 1:
            raise DiffError(f"diff needs the variable when the expression has {len(free)} free symbols")
        variables = free
    check_variables(variables)
    # Partials commute: in one order of the variables (sympy sorts them too), diff(e, x, y) and diff(e, y, x)
    # are one node, not two formulas whose values differ in the last bits, and each variable's run is one Taylor run.
    variables.sort(key=lambda v: v.value)  # a symbol's (name, index)
    for v, run in itertools.groupby(variables):
        k = len(list(run))
        if k == 1:
            (expr,) = gradient_nodes(expr, [v])
        elif k == 2:
            (first,) = gradient_nodes(expr, [v])
            (twice,) = gradient_nodes(first, [v])
            taylor = nth_derivative(expr, v, 2)
            expr = min((twice, taylor), key=lambda e: len(toposort([e])))
        else:
            expr = nth_derivative(expr, v, k)
    return expr
