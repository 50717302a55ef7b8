"""What the ``symgrad`` command prints: a :class:`Report` as text, JSON or LaTeX.

Kept apart from :mod:`symgrad.cli` (which reads the command line and computes)
so the three output modes share one description of a result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..ir.node import Node, symbol
from ..sympy_bridge import latex


@dataclass(frozen=True)
class Row:
    """One result line: ``name = formula`` and, at a point, its value."""

    name: str
    latex_name: str
    wrt: tuple[str, ...]
    expr: Node
    value: float | None = None


@dataclass(frozen=True)
class Report:
    """The result of ``grad``/``hessian``/``jacobian``/``diff``.

    ``shown`` is the formula as parsed and simplified (a node or an array);
    ``matrix`` is the shape the rows fill, row-major (Hessian, Jacobian);
    ``symmetric`` says the text view may show each mixed partial once.
    """

    command: str
    formula: str
    shown: object
    variables: tuple[str, ...]
    rows: tuple[Row, ...]
    point: dict[str, object] | None = None
    value: float | None = None
    matrix: tuple[int, int] | None = None
    symmetric: bool = False


def format_number(value: float) -> str:
    """Integers without a decimal point (``43``), other floats as Python prints them."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _json_number(value: float | None):
    """JSON has no nan/inf: they are written as the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _json_values(value):
    """A point's value (a number or an array) as JSON-ready data, nan and inf as strings (as _json_number)."""
    if isinstance(value, np.ndarray):
        return [_json_values(v) for v in value]
    return _json_number(float(value))


def _value_text(v) -> str:
    if isinstance(v, np.ndarray):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    return format_number(float(v))


def leibniz(runs: Sequence[tuple[Node, int]], what: str = "f") -> tuple[str, str]:
    """``d^3 f/dx^2 dy`` and its LaTeX, for differentiating by each ``(variable, times)`` in turn."""
    order = sum(k for _, k in runs)
    below = " ".join(f"d{v.name}" + ("" if k == 1 else f"^{k}") for v, k in runs)
    above = f"d{what}" if order == 1 else f"d^{order} {what}"
    tex_below = r" \partial ".join(latex(v) + ("" if k == 1 else f"^{{{k}}}") for v, k in runs)
    tex_above = r"\partial " if order == 1 else rf"\partial^{{{order}}} "
    tex_what = what.replace("[", "_{").replace("]", "}")  # f[0] -> f_{0}
    return f"{above}/{below}", rf"\frac{{{tex_above}{tex_what}}}{{\partial {tex_below}}}"


def _flat_shown(shown) -> list[Node]:
    return [shown] if isinstance(shown, Node) else list(np.asarray(shown, dtype=object).reshape(-1))


def _shown_text(shown) -> str:
    if isinstance(shown, Node):
        return str(shown)
    return "[" + ", ".join(map(str, _flat_shown(shown))) + "]"


# -- text ---------------------------------------------------------------------------------------------


def to_text(report: Report) -> str:
    """``f = ...`` then one aligned line per derivative; with a point, each line ends in its value."""
    rows = [r for i, r in enumerate(report.rows) if _shown_in_text(report, i)]
    width = max((len(r.name) for r in rows), default=1)
    lines = [f"f = {_shown_text(report.shown)}"]
    if report.point is None:
        return "\n".join(lines + [f"{r.name:{width}} = {r.expr}" for r in rows])
    lines.append(f"at {', '.join(f'{k}={_value_text(v)}' for k, v in report.point.items())}:")
    if report.value is not None:
        lines.append(f"  {'f':{width}} = {format_number(report.value)}")
    fwidth = max((len(str(r.expr)) for r in rows), default=0)
    lines += [f"  {r.name:{width}} = {r.expr!s:{fwidth}}  = {format_number(r.value)}" for r in rows]
    if report.matrix is not None and rows:
        cells = _nested([format_number(r.value) for r in report.rows], report.matrix)
        lines.append("  matrix: [" + ", ".join("[" + ", ".join(row) + "]" for row in cells) + "]")
    return "\n".join(lines)


def _shown_in_text(report: Report, index: int) -> bool:
    """A symmetric matrix (Hessian) shows its upper triangle only."""
    if not report.symmetric or report.matrix is None:
        return True
    i, j = divmod(index, report.matrix[1])
    return i <= j


def _nested(flat: list, shape: tuple[int, int]) -> list[list]:
    cols = shape[1]
    return [flat[r * cols : (r + 1) * cols] for r in range(shape[0])]


# -- JSON -----------------------------------------------------------------------------------------------


def to_json(report: Report) -> dict:
    """The report as JSON-ready data: formulas as text and LaTeX, values as numbers."""
    point = None if report.point is None else {k: _json_values(v) for k, v in report.point.items()}
    results = []
    for row in report.rows:
        entry = {"name": row.name, "wrt": list(row.wrt), "formula": str(row.expr)}
        entry["latex"] = f"{row.latex_name} = {latex(row.expr)}"
        if row.value is not None:
            entry["value"] = _json_number(row.value)
        results.append(entry)
    shown = report.shown
    data = {
        "command": report.command,
        "formula": report.formula,
        "expression": str(shown) if isinstance(shown, Node) else [str(v) for v in _flat_shown(shown)],
        "variables": list(report.variables),
        "at": point,
        "value": _json_number(report.value),
        "results": results,
    }
    if report.matrix is not None:
        data["matrix"] = _nested([str(r.expr) for r in report.rows], report.matrix)
        if report.point is not None:
            data["value_matrix"] = _nested([_json_number(r.value) for r in report.rows], report.matrix)
    return data


# -- LaTeX ------------------------------------------------------------------------------------------------


def to_latex(report: Report) -> str:
    """LaTeX lines: ``f = ...``, then each derivative (a matrix for Hessians and Jacobians) and its value."""
    lines = [f"f = {latex(report.shown)}"]
    at = "" if report.point is None else _point_latex(report.point)
    if report.matrix is not None:
        name = "H" if report.symmetric else "J"
        lines.append(f"{name} = {latex(np.array([r.expr for r in report.rows], dtype=object).reshape(report.matrix))}")
        if report.point is not None:
            cells = _nested([format_number(r.value) for r in report.rows], report.matrix)
            body = r" \\ ".join(" & ".join(row) for row in cells)
            lines.append(rf"{name}\big|_{{{at}}} = \begin{{pmatrix}} {body} \end{{pmatrix}}")
        return "\n".join(lines)
    for row in report.rows:
        value = "" if row.value is None else rf" \quad\text{{at }} {at}: \quad {format_number(row.value)}"
        lines.append(f"{row.latex_name} = {latex(row.expr)}{value}")
    return "\n".join(lines)


def _point_latex(point: dict[str, object]) -> str:
    return ",\\ ".join(f"{latex(symbol(k))}={_value_text(v)}" for k, v in point.items())
