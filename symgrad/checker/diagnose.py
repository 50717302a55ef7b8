"""Explaining a wrong claim: the term, the factor or the nearby function it came from."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..ir import builders as B
from ..ir.node import Node, free_symbols, symbol
from ..sympy_bridge import to_sympy
from .claims import Subject
from .decide import NUMBER_ATOL, NUMBER_RTOL, close_enough, sympy_small
from .report import fmt_value

# -- display: elementwise arrays shown as one formula ---------------------------------------------


def generic_formula(value, subject: Subject):
    """An array whose element ``i`` is one formula in ``a[i], b[i]...`` shown as that formula in ``a, b``.

    Returns a scalar Node, or None when the elements do not follow one pattern.
    """
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object:
        return None
    if arr.ndim == 0:
        return B.as_node(arr[()])
    names = [n for n, shape in subject.shapes.items() if shape == arr.shape]
    first = None
    for idx in np.ndindex(*arr.shape):
        mapping = {symbol(n, idx): symbol(n) for n in names}
        g = B.substitute([B.as_node(arr[idx])], mapping)[0]
        if any(s.value[1] for s in free_symbols([g])):
            return None
        if first is None:
            first = g
        elif g is not first:
            return None
    return first


def formula_text(value, subject: Subject) -> str:
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object:
        return fmt_value(arr)
    g = generic_formula(arr, subject)
    if g is not None:
        return str(g) + (" (elementwise)" if arr.ndim else "")
    return "[" + ", ".join(str(B.as_node(v)) for v in arr.reshape(-1)) + "]" + (f" (shape {arr.shape})")


# -- diagnosis -----------------------------------------------------------------------------------------


def _terms(expr) -> dict:
    """An expanded expression as {monomial without its number: number}."""
    out: dict = {}
    for t in sp.Add.make_args(sp.expand(expr)):
        coeff, rest = t.as_coeff_Mul()
        out[rest] = out.get(rest, 0) + coeff
    return {k: v for k, v in out.items() if v != 0}


def _origins(f_expr, var_sym) -> dict:
    """Which term of f each term of its derivative comes from (for "the term from -b**2")."""
    origins: dict = {}
    for term in sp.Add.make_args(f_expr):
        for rest in _terms(sp.diff(term, var_sym)):
            origins.setdefault(rest, term)
    return origins


def _term_diagnosis(expected, claimed, f_expr, var_sym) -> list[str]:
    e_terms, k_terms = _terms(expected), _terms(claimed)
    if not set(e_terms) & set(k_terms):
        return []
    origins = _origins(f_expr, var_sym) if f_expr is not None else {}
    notes = []
    for rest in list(e_terms) + [r for r in k_terms if r not in e_terms]:
        e, k = e_terms.get(rest), k_terms.get(rest)
        source = f" from {origins[rest]}" if rest in origins else ""
        if e is not None and k is not None and e == k:
            continue
        if e is not None and k is not None and e == -k:
            notes.append(f"sign error in the term{source}: expected {e * rest}, claimed {k * rest}")
        elif e is not None and k is not None:
            notes.append(f"wrong coefficient in the term{source}: expected {e * rest}, claimed {k * rest}")
        elif e is not None:
            notes.append(f"missing term{source}: {e * rest}")
        else:
            notes.append(f"extra term: {k * rest} (no term of the derivative has this form)")
    return notes


def _factor_diagnosis(expected, claimed, label: str) -> list[str]:
    """For claims off by a factor: 'your dQ/db misses the factor -3*a**3'."""
    if claimed == 0 or expected == 0:
        return []
    ratio = sp.factor(sp.cancel(expected / claimed))
    if ratio == 1 or sp.count_ops(ratio) > 12 or ratio.has(sp.Piecewise, sp.Heaviside, sp.sign, sp.Abs):
        return []  # a factor that is 1 on one branch and not on another: the branch diagnosis says it better
    if ratio == 0 or ratio.has(sp.nan, sp.oo, sp.S.NegativeInfinity, sp.zoo):
        return []  # a claim of inf or nan is not off by a factor (2*x/inf is 0, 2*x/nan is nan)
    num, den = sp.fraction(ratio)
    if den == 1 and num == -1:
        return [f"your {label} has the wrong sign"]
    parts = []
    if num == -1:
        parts.append("has the wrong sign")
    elif num != 1:
        parts.append(f"misses the factor {num}")
    if den != 1:
        parts.append(f"has an extra factor {den}")
    return [f"your {label} " + " and ".join(parts) + f" (correct = claimed * {ratio})"]


def _nearby_diagnosis(f_expr, var_sym, claimed, label: str) -> list[str]:
    """Whether the claim is the derivative of f with one product and sum swapped (a cheap, common slip)."""
    if f_expr is None or sp.count_ops(f_expr) > 20:
        return []
    for candidate in _nearby(f_expr):
        if sp.expand(sp.diff(candidate, var_sym) - claimed) == 0:
            return [f"your {label} is the derivative of {candidate}, not of {f_expr}"]
    return []


def _nearby(f_expr) -> list:
    args = list(f_expr.args)
    if f_expr.is_Mul and 2 <= len(args) <= 4:
        out = []
        for mask in range(1, 2 ** len(args) - 1):
            u = sp.Mul(*[a for i, a in enumerate(args) if mask >> i & 1])
            v = sp.Mul(*[a for i, a in enumerate(args) if not mask >> i & 1])
            out += [u + v, u - v]
        return out
    if f_expr.is_Add and len(args) == 2:
        return [args[0] * args[1], args[0] - args[1], args[1] - args[0]]
    return []


def diagnose(correct, claimed, subject: Subject, var_name: str, var, label: str) -> list[str]:
    """Term-level explanations, on the elementwise formula when there is one, else on the first element.

    ``var`` is None for entries of higher derivatives: then no term of f is named as the origin.
    """
    e_node, k_node = generic_formula(correct, subject), generic_formula(claimed, subject)
    f_node = generic_formula(subject.value, subject)
    if e_node is None or k_node is None:
        e_node = B.as_node(np.asarray(correct, dtype=object).reshape(-1)[0])
        k_node = B.as_node(np.asarray(claimed, dtype=object).reshape(-1)[0])
        f_node = subject.value if isinstance(subject.value, Node) else None
    expected, got = to_sympy(e_node), to_sympy(k_node)
    if not (sympy_small(expected) and sympy_small(got)):
        return []
    if var is None:  # a Hessian entry or a higher derivative: f's terms are not where its terms come from
        var_sym = f_expr = None
    else:
        var_sym = to_sympy(symbol(var_name)) if isinstance(var, np.ndarray) else to_sympy(var)
        f_expr = to_sympy(f_node) if f_node is not None and sympy_small(to_sympy(f_node)) else None
    notes = _term_diagnosis(expected, got, f_expr, var_sym)
    if not notes:
        notes = _factor_diagnosis(expected, got, label)
    return notes + _nearby_diagnosis(f_expr, var_sym, got, label)


def number_diagnosis(correct_vals, claimed_vals, label: str) -> list[str]:
    c, k = np.asarray(correct_vals, float).reshape(-1), np.asarray(claimed_vals, float).reshape(-1)
    if np.allclose(k, -c, rtol=NUMBER_RTOL, atol=NUMBER_ATOL):
        return [f"your {label} has the wrong sign at every entry"]
    nonzero = np.abs(c) > NUMBER_ATOL
    if nonzero.all() and c.size:
        ratios = k / c
        if np.isfinite(ratios).all() and np.allclose(ratios, ratios[0], rtol=1e-6):
            r = sp.nsimplify(float(ratios[0]), rational=True, tolerance=1e-9)
            if sp.count_ops(r) < 6:
                return [f"your values are {r} times the correct ones at every entry (a constant factor)"]
    wrong = np.nonzero(~close_enough(c, k, NUMBER_RTOL, NUMBER_ATOL))[0]
    if c.size == 1:
        return []
    return [f"{len(wrong)} of {c.size} entries differ (flat indices {wrong[:10].tolist()})"]


def branch_diagnosis(agree: str, differ: str, label: str) -> list[str]:
    """For a claim right at some points and wrong at others (a missed case of abs/relu/max/where, or a domain)."""
    text = (
        f"your {label} agrees with the derivative at {agree} but not at {differ}: it is right on part of the "
        "domain only (a missed case of abs, sign, relu, maximum, minimum or where, or a sign that depends on x)"
    )
    return [text]
