"""``check``: a hand-derived derivative against symgrad's exact one, with an explanation.

``check(f, claimed)`` compares a student's derivative (an expression, a
function, a formula string or numbers) with symgrad's exact one and explains
a mismatch down to the term.  This module only wires the layers: reading the
claim (:mod:`.claims`), deciding equality (:mod:`.decide`, on points from
:mod:`.domain`), explaining a mismatch (:mod:`.diagnose`) and the report
(:mod:`.report`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import InputError, SymgradError
from ..ir import builders as B
from ..ir.domain import valid_points
from ..ir.node import Node
from ..limits import TimeSliceExpired, time_slice
from ..sympy_bridge import simplify
from ..tracing.functions import is_symbolic
from .claims import (
    Subject,
    broadcast_claim,
    claim_value,
    expected_derivative,
    higher_derivatives,
    nested_items,
    point_dict,
    point_values,
    split_claims,
    subject_of,
    symbols_of,
    variables_of,
)
from .decide import NUMBER_ATOL, NUMBER_RTOL, close_enough, decide, evaluate_at, flat_nodes
from .diagnose import branch_diagnosis, diagnose, formula_text, number_diagnosis
from .report import CheckReport, Component, fmt_value

DISPLAY_SECONDS = 1.0
"""CPU seconds sympy may spend simplifying one formula for the report (a Piecewise can take minutes)."""


def check(
    f,
    claimed,
    wrt=None,
    at=None,
    *,
    order: int = 1,
    shapes: Mapping | None = None,
    name: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> CheckReport:
    """Check a hand-derived derivative of ``f`` and explain what is wrong with it.

    ``f``: an expression, a formula string, or a Python function (traced;
    shapes of array arguments from ``shapes=`` or from the arrays in ``at``).
    ``claimed``: an expression, a formula string (names are f's symbols), a
    function with f's signature, or numbers (then ``at`` is required); a dict
    ``{name: claim}``, a list or a bracketed formula ``"[9*a**2, -2*b]"``
    gives one claim per variable, and for a vector f in scalar variables a
    matrix (rows: f's entries) is its Jacobian.  ``wrt``: a symbol, a name or
    a list of them (default: f's variables).  ``order=2`` with several
    variables checks a claimed Hessian (an n x n matrix), with one variable
    the ``order``-th derivative.

    For a vector-valued f, a claim shaped like the variable is compared with
    the vector-Jacobian product with ones (``Q.backward(gradient=ones)``), one
    shaped ``f.shape + var.shape`` with the Jacobian.  Formula claims are
    compared wherever f and its derivative are finite (and at ``at``, when
    given); a claim without symbols given with ``at`` is a value at that
    point.  ``rtol``/``atol`` apply to claims given as numbers.
    """
    return _check(f, claimed, wrt, at, order, shapes, name, rtol, atol, transpose_hint=True)


def _check(f, claimed, wrt, at, order, shapes, name, rtol, atol, transpose_hint: bool) -> CheckReport:
    """:func:`check`; ``transpose_hint``: look whether a wrong square Jacobian is right transposed."""
    subject = subject_of(f, at, shapes, name)
    point = point_values(at, subject) if at is not None else None
    tol = (NUMBER_RTOL if rtol is None else rtol, NUMBER_ATOL if atol is None else atol)
    components: list[Component] = []
    if order != 1:
        for label, var_name, var, expected, claim in higher_derivatives(subject, wrt, claimed, order):
            value = claim_value(claim, subject, label)
            compared = "Hessian entry" if label.startswith("d2") and "," in var_name else f"derivative of order {order}"
            components.append(_component(subject, label, var_name, var, expected, value, compared, point, tol))
        return CheckReport(subject.name, components)
    variables = variables_of(subject, wrt, claimed)
    for (var_name, var), claim in zip(variables, split_claims(subject, claimed, variables)):
        label = f"d{subject.name}/d{var_name}"
        value = claim_value(claim, subject, label)
        expected, compared = expected_derivative(subject, var_name, var, np.shape(value))
        components.append(_component(subject, label, var_name, var, expected, value, compared, point, tol))
    notes = []
    wrong = any(c.verdict == "wrong" for c in components)
    if wrong and transpose_hint and _transpose_is_right(f, claimed, variables, subject, at, shapes, name, rtol, atol):
        notes.append(
            "the claim read as a Jacobian has rows for f's entries and a column per variable (d f_i / d x_j at "
            "row i, column j); its transpose is right: the rows written are the variables' derivatives "
            "(give them as a dict {name: derivative} to mean that)"
        )
    if any(c.compared.startswith("vector-Jacobian") for c in components):
        notes.append(
            f"{subject.name} is vector-valued (shape {np.shape(subject.value)}): a claim shaped like the variable "
            f"was compared with the vector-Jacobian product with ones, the 'outside gradient' that "
            f"{subject.name}.backward(gradient=ones) uses"
        )
    return CheckReport(subject.name, components, notes)


def _transpose_is_right(f, claimed, variables, subject: Subject, at, shapes, name, rtol, atol) -> bool:
    """Whether a square matrix claimed as the Jacobian of a vector f is right transposed (the layout slip).

    Checked as the claim was, with the caller's tolerances; asked only once the claim is wrong.
    """
    if not isinstance(claimed, (str, list, tuple, np.ndarray)) or any(np.shape(v) for _, v in variables):
        return False
    n = len(variables)
    if np.shape(subject.value) != (n,) or n < 2:
        return False
    items = nested_items(claimed) if isinstance(claimed, str) else claimed
    arr = np.asarray(items, dtype=object) if isinstance(items, (list, tuple, np.ndarray)) else None
    if arr is None or arr.shape != (n, n):
        return False
    try:
        names = [name for name, _ in variables]
        return (
            _check(f, arr.T.tolist(), names, at, 1, shapes, name, rtol, atol, transpose_hint=False).verdict == "right"
        )
    except SymgradError:
        return False


def _component(subject: Subject, label, var_name, var, expected, value, compared, point, tol) -> Component:
    if np.shape(value) != np.shape(expected):
        value = broadcast_claim(value, np.shape(expected), label)
    if point is not None and _constant(value):  # a number given with at= is a value there, not a formula
        value = evaluate_at(value, {})
    correct = _display_form(subject, expected)
    if not is_symbolic(value) and not (isinstance(value, np.ndarray) and value.dtype == object):
        return _numeric_component(subject, label, var_name, expected, correct, value, compared, point, tol)
    return _symbolic_component(subject, label, var_name, var, expected, correct, value, compared, point)


def _display_form(subject: Subject, expected):
    """The derivative simplified by sympy for the report, if it keeps the values (and domain) of the built one.

    sympy reasons with complex numbers: ``sqrt(abs(x - 2))``'s derivative can
    come back as ``(x - 2)/(2*abs((x - 2)**(3/2)))``, which numpy evaluates to
    nan for x < 2.  Such a form is not shown; values always come from the
    derivative as built.
    """
    correct = _simplified(expected)
    if correct is expected or (isinstance(correct, np.ndarray) and correct.dtype != object):
        return correct
    domain = [*flat_nodes(subject.value), *flat_nodes(expected)]
    symbols = symbols_of(domain, correct)
    points = valid_points(domain, symbols, count=16)
    if not symbols:
        points = {}
    built, simplified = evaluate_at(expected, points), evaluate_at(correct, points)
    with np.errstate(invalid="ignore"):
        same = np.isfinite(simplified) & close_enough(built, simplified, 1e-9, 1e-12)
    return correct if np.all(same) else expected


def _simplified(value):
    """``value`` simplified by sympy for display, or as it is when that takes more than DISPLAY_SECONDS of CPU."""
    try:
        with time_slice(DISPLAY_SECONDS):
            return simplify(value)
    except TimeSliceExpired:
        return value


def _constant(value) -> bool:
    arr = np.asarray(value, dtype=object)
    return arr.dtype == object and not symbols_of(arr)


def _numeric_component(subject, label, var_name, expected, correct, value, compared, point, tol) -> Component:
    if point is None and symbols_of(correct):
        raise InputError(f"the claimed {label} is numbers: give the point with at={{name: value}}")
    point = point or {}
    _require(point, symbols_of(expected), label)
    correct_vals = evaluate_at(expected, point)
    comp = Component(label, var_name, correct, value, None, "right", "", compared)
    comp.correct_text, comp.claimed_text = formula_text(correct, subject), fmt_value(value)
    comp.point = point_dict(point, subject, correct)
    comp.correct_value, comp.claimed_value = correct_vals, value
    tolerance = f"rtol={tol[0]:g}, atol={tol[1]:g}"
    if not _finite_at(point, subject.value, expected):  # as for formula claims: f is defined there too
        comp.verdict = "undecided"
        comp.method = "f or its derivative is not finite at the given point, so there is nothing to compare with"
    elif np.all(close_enough(correct_vals, value, *tol)):
        comp.method = f"compared at the given point ({tolerance})"
    else:
        comp.verdict, comp.method = "wrong", f"compared at the given point ({tolerance})"
        comp.diagnosis = number_diagnosis(correct_vals, value, label)
        comp.witness = comp.point
    return comp


def _finite_at(point: Mapping[Node, object], *values) -> bool:
    """Whether every value that the point determines is finite there (f and its derivative)."""
    for value in values:
        if all(s in point for s in symbols_of(value)) and not np.all(np.isfinite(evaluate_at(value, point))):
            return False
    return True


def _require(point: Mapping[Node, object], symbols: list[Node], label: str) -> None:
    missing = [s.name for s in symbols if s not in point]
    if missing:
        raise InputError(f"at gives no value for {', '.join(missing)}, which {label} depends on")


def _symbolic_component(subject, label, var_name, var, expected, correct, value, compared, point) -> Component:
    domain = [*flat_nodes(subject.value), *flat_nodes(expected)]
    decision = decide(expected, value, domain, at=point, sympy_form=correct)
    comp = Component(label, var_name, correct, value, None, decision.verdict, decision.method, compared)
    comp.correct_text, comp.claimed_text = formula_text(correct, subject), formula_text(value, subject)
    if decision.verdict == "wrong":  # shown only then, and sympy's simplify is the slow part of a check
        comp.difference = _simplified(_subtract(correct, value))
        comp.difference_text = formula_text(comp.difference, subject)
    comp.notes = list(decision.notes)
    symbols = symbols_of(expected, value)
    if point is not None and all(s in point for s in symbols):
        comp.point = point_dict(point, subject, correct, value)
        comp.correct_value, comp.claimed_value = evaluate_at(expected, point), evaluate_at(value, point)
    if decision.witness is not None:
        comp.witness = point_dict(decision.witness, subject, correct, value)
        values = evaluate_at(expected, decision.witness), evaluate_at(value, decision.witness)
        if not comp.point:
            comp.point, (comp.correct_value, comp.claimed_value) = comp.witness, values
        elif any(point.get(s) != v for s, v in decision.witness.items()):
            comp.witness_values = values
    if decision.verdict == "wrong":
        first_order = not compared.startswith(("Hessian", "derivative of order"))
        comp.diagnosis = diagnose(correct, value, subject, var_name, var if first_order else None, label)
        comp.diagnosis += _entries(decision.wrong_entries, np.shape(correct))
        if decision.agreeing is not None and comp.witness:
            agree = _at(point_dict(decision.agreeing, subject, correct, value))
            comp.diagnosis += branch_diagnosis(agree, _at(comp.witness), label)
        extra = sorted({s.value[0] for s in symbols_of(value)} - {s.value[0] for s in symbols_of(subject.value)})
        if extra:
            comp.diagnosis.append(f"the claim uses {', '.join(extra)}, which {subject.name} does not depend on")
    return comp


def _entries(flat: list[int], shape: tuple[int, ...]) -> list[str]:
    """For an array component wrong in some entries only: which ones."""
    size = int(np.prod(shape)) if shape else 1
    if not shape or not flat or len(flat) == size:
        return []
    idx = [str(tuple(int(i) for i in np.unravel_index(k, shape))) for k in flat[:10]]
    return [f"wrong at entr{'y' if len(flat) == 1 else 'ies'} {', '.join(idx)} (the others are right)"]


def _subtract(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        return B.elementwise(lambda u, v: B.add(u, B.mul(-1, v)), a, b)
    return B.add(a, B.mul(-1, b))


def _at(point: Mapping[str, object]) -> str:
    return ", ".join(f"{k} = {fmt_value(v)}" for k, v in point.items())
