"""Deciding whether a claimed derivative equals the correct one: exactly where possible, else at sampled points.

A verdict of "right" must mean right, so the order is:

1. **sympy**: the difference correct - claimed, expanded and simplified within
   a size and a time budget.  0 means equal everywhere.
2. **exact arithmetic at a point**: the difference evaluated with the point's
   coordinates as exact rationals.  A nonzero value at a point where f and
   its derivative are finite means the claim is wrong, however the difference
   looks.  (This needs no simplification, so it also works when step 1 fails.)
3. **numbers**: both sides evaluated at the points :mod:`.domain` samples
   (inside the real domain, on both sides of every kink).  A finite correct
   value with a different, or non-finite, claimed value is a mismatch;
   mismatches that exact arithmetic shows to be rounding are dropped.

A claim is "right" only when step 1 proves it, or step 3 compared it at one or
more points and found no mismatch; with no point to compare, the verdict is
"undecided", never "right".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ..ir import builders as B
from ..ir.domain import Sample, sample, values_at
from ..ir.evaluate import evaluate
from ..ir.node import Node, free_symbols
from ..limits import TimeSliceExpired, time_slice
from ..sympy_bridge import to_sympy

SYMPY_MAX_OPS = 80
"""Differences larger than this (sympy's count_ops) are not simplified: sympy's time grows fast."""
SYMPY_SIMPLIFY_OPS = 40
"""Only differences up to this size get ``sympy.simplify`` (after ``expand`` and ``cancel``)."""
SYMPY_EXACT_OPS = 400
"""Differences up to this size are evaluated exactly at points (cheap next to simplification)."""
SYMPY_MAX_POWER = 8
"""Powers of sums with larger integer exponents are not expanded (``(a + b)**50`` would explode)."""
SYMPY_SECONDS = 2.0
"""CPU seconds for sympy's part of one decision (a :func:`symgrad.limits.time_slice`; checked between
elements where no timer is available, as outside the main thread)."""
SAMPLE_POINTS = 40
EXACT_POINTS = 3
"""Points at which each difference is evaluated exactly: the first mismatches, then the first points."""
RTOL, ATOL = 1e-7, 1e-9
"""Tolerance for equality at sampled points (float64 rounding of different forms).  ATOL is relative to the
derivative's size: an entry whose values at the compared points are all below 1 gets ATOL times the largest
(see :func:`absolute_tolerance`)."""
FLOAT_RTOL = 1e-10
"""Tolerance, relative to the derivative's value (and to ATOL for the absolute part), for a difference with
decimals in it evaluated exactly: their float rounding is about 1e-16 of each term, while RTOL would pass a
claim of ``2.0000001*x`` for ``x**2``'s ``2*x``."""
NUMBER_RTOL, NUMBER_ATOL = 1e-6, 1e-9
"""Default tolerance for claims given as numbers (hand computations are often rounded)."""
MAX_ELEMENTS_SYMBOLIC = 64
"""Array components with more elements than this are not given to sympy."""


@dataclass
class Decision:
    """How a claim compares with the correct derivative, and how that was found out."""

    verdict: str  # "right", "wrong" or "undecided"
    method: str
    witness: dict[Node, float] | None = None
    wrong_entries: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    agreeing: dict[Node, float] | None = None
    """For a wrong claim, a compared point where it agrees with the derivative (it is right on part of the domain)."""


# -- values -------------------------------------------------------------------------------------------


def evaluate_at(value, points: Mapping[Node, object]) -> np.ndarray:
    """Values of an expression (array) at points: shape ``value.shape + point_shape`` (() or (number of points,))."""
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object:
        return arr.astype(float)
    pshape = np.shape(next(iter(points.values()))) if points else ()
    nodes = [B.as_node(v) for v in arr.reshape(-1)]
    results = evaluate(nodes, points) if nodes else []
    cells = [np.broadcast_to(np.asarray(r, dtype=float), pshape) for r in results]
    flat = np.array(cells, dtype=float).reshape((len(nodes), *pshape))
    return flat.reshape(arr.shape + pshape)


def close_enough(a, b, rtol: float, atol: float) -> np.ndarray:
    """``|a - b| <= atol + rtol * max(|a|, |b|)``; an infinity is never close to a finite number (the relative
    bound of inf is inf, which |inf - 2| would meet)."""
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))
    return near & (np.isinf(a) == np.isinf(b))


def flat_nodes(value) -> list[Node]:
    return [B.as_node(v) for v in np.asarray(value, dtype=object).reshape(-1)]


# -- sympy ----------------------------------------------------------------------------------------------


def sympy_small(expr, limit: int = SYMPY_MAX_OPS) -> bool:
    if sp.count_ops(expr) > limit:
        return False
    return all(
        not (p.base.is_Add and p.exp.is_Integer and abs(int(p.exp)) > SYMPY_MAX_POWER) for p in expr.atoms(sp.Pow)
    )


def sympy_differences(correct: Sequence[Node], claimed: Sequence[Node]) -> list:
    """Per element, correct - claimed in sympy, simplified within the budgets: 0, an expression, or None (too big)."""
    deadline = time.monotonic() + SYMPY_SECONDS
    out: list = []
    for a, b in zip(correct, claimed):
        if a is b:
            out.append(sp.S.Zero)
        elif len(correct) > MAX_ELEMENTS_SYMBOLIC or time.monotonic() > deadline:
            out.append(None)
        else:
            out.append(_difference(a, b, deadline))
    return out


def _difference(a: Node, b: Node, deadline: float):
    """``a - b`` in sympy: 0 when proven; else the simplest form reached in the time left (for exact values)."""
    try:
        d = to_sympy(a) - to_sympy(b)
    except Exception:  # noqa: BLE001 - sympy fails in many ways (PolynomialError, ...): only "not decided"
        return None
    if d == 0 or not sympy_small(d, SYMPY_EXACT_OPS):
        return d if d == 0 else None
    if not sympy_small(d):
        return d  # too big to simplify, small enough to evaluate exactly
    for step in (sp.expand, lambda e: sp.cancel(sp.together(e)), sp.simplify):
        if step is sp.simplify and sp.count_ops(d) > SYMPY_SIMPLIFY_OPS:
            break
        try:
            with time_slice(deadline - time.monotonic()):
                d = step(d)
        except TimeSliceExpired:
            break
        except Exception:  # noqa: BLE001 - as above: keep the form reached so far
            break
        if d == 0:
            break
    return d


def exact(v: float) -> sp.Rational:
    """A coordinate as the exact decimal it prints as (the points are rounded to a few digits): 0.001 -> 1/1000."""
    q = Fraction(repr(float(v)))
    return sp.Rational(q.numerator, q.denominator)


def absolute_tolerance(c_vals: np.ndarray) -> np.ndarray:
    """Per entry (row of ``c_vals``, the derivative at the compared points): the absolute tolerance.

    ATOL, times the largest finite value of the entry where that is below 1: a fixed 1e-9 would pass any
    claim of ``1e-12*x**2``'s derivative (3e-12*x, 0, ...), since its values are all below 1e-9.  An entry
    that is 0 at every point keeps ATOL (a claim of 0 written with decimals rounds to about 1e-17).
    """
    with np.errstate(invalid="ignore"):
        size = np.where(np.isfinite(c_vals), np.abs(c_vals), 0.0).max(axis=-1, initial=0.0)
    return np.where(size > 0, ATOL * np.minimum(size, 1.0), ATOL)


def exact_sign(diff, symbols: Sequence[Node], point: Sequence[float], scale: float, atol: float) -> str | None:
    """Whether ``diff`` is "zero" or "nonzero" at the point in exact arithmetic; None when sympy cannot tell.

    With floats in the difference (a claim written with decimals) exactness
    means nothing, so the value is judged against a tolerance for their rounding: FLOAT_RTOL of ``scale``
    (the derivative's value there) and of the entry's ``atol``, far below the numeric tolerance, which
    mistakes in decimals (a coefficient 2.0000001) pass.
    """
    try:
        mapping = {to_sympy(s): exact(v) for s, v in zip(symbols, point)}
        v = diff.xreplace(mapping)
        if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            return None
        if diff.has(sp.Float):
            tol = FLOAT_RTOL * (scale + atol / RTOL)
            return "nonzero" if abs(complex(sp.N(v, 30))) > tol else "zero"
        zero = v.is_zero
        return None if zero is None else "zero" if zero else "nonzero"
    except Exception:  # noqa: BLE001 - as in _difference: a failure only means "cannot tell"
        return None


# -- the decision ------------------------------------------------------------------------------------------


def decide(
    correct,
    claimed,
    domain: Sequence[Node],
    at: Mapping[Node, float] | None = None,
    seed: int = 0,
    *,
    sympy_form=None,
) -> Decision:
    """Decide ``claimed == correct`` (expressions or arrays of them) where every node of ``domain`` is finite.

    ``correct`` is evaluated as built: a form sympy simplified may have another
    real domain (it reasons with complex numbers), so it is only given to
    sympy, as ``sympy_form``.  ``domain`` holds the expressions whose real
    domain the comparison lives in (f and the derivative as built); ``at`` is
    a point the user gave, compared as well when it is in the domain.
    """
    c_nodes, k_nodes = flat_nodes(correct), flat_nodes(claimed)
    s_nodes = c_nodes if sympy_form is None else flat_nodes(sympy_form)
    symbols = free_symbols([*c_nodes, *k_nodes, *domain])
    smp = sample([*domain, *c_nodes], symbols, SAMPLE_POINTS, seed, also=k_nodes)
    cols, notes, at_used = _columns(smp, symbols, at, [*domain, *c_nodes])
    n = cols.shape[1]
    c_vals, k_vals = values_at(c_nodes, symbols, cols), values_at(k_nodes, symbols, cols)
    repaired = _repair_overflow(k_nodes, c_vals, k_vals, symbols, cols)
    if repaired:
        notes.append(
            f"at {repaired} point(s) the claim overflows in floating point (exp of a large number, say) although its "
            "value is finite: it was evaluated there in exact arithmetic"
        )
    with np.errstate(invalid="ignore"):
        not_finite = ~np.isfinite(k_vals)
        atol = absolute_tolerance(c_vals)
        bad = not_finite | ~close_enough(c_vals, k_vals, RTOL, atol[:, None])
    diffs = sympy_differences(s_nodes, k_nodes)
    if all(d is not None and d == 0 for d in diffs):
        return _proven_equal(not_finite, symbols, cols, n, notes)
    for e, d in enumerate(diffs):
        if d is None:
            continue
        if d == 0:
            bad[e] = not_finite[e]  # proven equal: a finite difference is rounding
            continue
        witness = _exact_witness(d, e, bad, not_finite, c_vals, symbols, cols, float(atol[e]))
        if isinstance(witness, int):
            entries = sorted({e, *np.flatnonzero(bad.any(axis=1)).tolist()})
            value = d.xreplace({to_sympy(s): exact(v) for s, v in zip(symbols, cols[:, witness])})
            method = (
                f"decided symbolically: in exact arithmetic the difference is {_short(value)} at the point shown, not 0"
            )
            return Decision(
                "wrong",
                method,
                _point(symbols, cols, witness),
                entries,
                notes,
                _agreeing(bad, symbols, cols, c_vals, c_nodes, diffs, atol),
            )
    return _numeric_verdict(bad, symbols, cols, n, smp.beside_edges, at_used, notes, (c_vals, c_nodes), atol)


OVERFLOW_CHECKS = 40
"""At most this many points where the claim is not finite but the derivative is get the exact evaluation
of :func:`_repair_overflow`; the rest count as the claim's own non-finite values."""


def exact_value(node: Node, symbols: Sequence[Node], point: Sequence[float]) -> float | None:
    """``node`` at the point in exact arithmetic (sympy, 30 digits), as a float; None unless a finite real."""
    try:
        expr = to_sympy(node)
        if not sympy_small(expr, SYMPY_EXACT_OPS):
            return None
        value = complex(sp.N(expr.xreplace({to_sympy(s): exact(v) for s, v in zip(symbols, point)}), 30))
    except Exception:  # noqa: BLE001 - nan, zoo, overflow past float, or sympy failing: no value
        return None
    return value.real if value.imag == 0 and np.isfinite(value.real) else None


def _repair_overflow(k_nodes, c_vals, k_vals, symbols, cols) -> int:
    """Replace, in ``k_vals``, claimed values that are float overflow by their exact values; how many points.

    ``exp(x)/(exp(x) + exp(y))`` at x = 740 is inf/inf = nan in floating point and
    about 1 in fact: counted as the claim's non-finite value, it would call a
    right answer wrong.  A claim undefined there (``sqrt`` of a negative number,
    a division by zero) has no exact value either and stays non-finite.
    """
    with np.errstate(invalid="ignore"):
        suspect = ~np.isfinite(k_vals) & np.isfinite(c_vals)
    count = 0
    for col in np.flatnonzero(suspect.any(axis=0))[:OVERFLOW_CHECKS]:
        entries = np.flatnonzero(suspect[:, col])
        values = [exact_value(k_nodes[e], symbols, cols[:, col]) for e in entries]
        if all(v is not None for v in values):
            k_vals[entries, col] = values
            count += 1
    return count


def _columns(smp: Sample, symbols, at, valid_for) -> tuple[np.ndarray, list[str], bool]:
    """The sampled points as columns (symbols x points), with the given point appended when it is usable."""
    cols = np.array([smp.points[s] for s in symbols]).reshape(len(symbols), smp.size)
    notes: list[str] = []
    if at is None:
        return cols, notes, False
    missing = [s.name for s in symbols if s not in at]
    if missing:
        notes.append(f"at= gives no value for {', '.join(missing)}: the given point is not among those compared")
        return cols, notes, False
    given = np.array([[float(at[s])] for s in symbols]).reshape(len(symbols), 1)
    if not np.all(np.isfinite(values_at(valid_for, symbols, given))):
        notes.append("at the given point f or its derivative is not finite: it is not among the points compared")
        return cols, notes, False
    return np.concatenate([given, cols], axis=1), notes, True


def _proven_equal(not_finite, symbols, cols, n: int, notes: list[str]) -> Decision:
    if not_finite.any():
        col = int(np.flatnonzero(not_finite.any(axis=0))[0])
        method = (
            f"decided numerically at {n} points: the claim is not finite at the point shown, where f and its "
            "derivative are (sympy, which works with complex values, calls the two equal)"
        )
        entries = np.flatnonzero(not_finite.any(axis=1)).tolist()
        return Decision("wrong", method, _point(symbols, cols, col), entries, notes)
    if n == 0:
        notes = [*notes, "no point was found where f and its derivative are finite (real numbers)"]
    return Decision("right", "decided symbolically: the difference simplifies to 0", None, [], notes)


def _exact_witness(d, e: int, bad, not_finite, c_vals, symbols, cols, atol: float) -> int | None:
    """A point (column) where ``d`` is exactly nonzero; mismatches there that are exactly 0 are cleared as rounding."""
    mismatches = np.flatnonzero(bad[e] & ~not_finite[e])[:EXACT_POINTS].tolist()
    tried = list(dict.fromkeys(mismatches + list(range(min(EXACT_POINTS, cols.shape[1])))))
    for col in tried:
        sign = exact_sign(d, symbols, cols[:, col], float(abs(c_vals[e, col])), atol)
        if sign == "nonzero":
            return col
        if sign == "zero" and col in mismatches:
            bad[e, col] = False
    return None


def _numeric_verdict(bad, symbols, cols, n: int, near: int, at_used: bool, notes: list[str], values, atol) -> Decision:
    scaled = f"atol={ATOL:g} times the derivative's largest value" if np.any(atol < ATOL) else f"atol={ATOL:g}"
    tol = f"rtol={RTOL:g}, {scaled}"
    if n == 0:
        method = "no point was found where f and its derivative are finite, so nothing was compared"
        return Decision("undecided", method, None, [], notes)
    if bad.any():
        col = int(np.flatnonzero(bad.any(axis=0))[0])
        method = f"decided numerically at {n} points: they differ at the point shown ({tol})"
        entries = np.flatnonzero(bad.any(axis=1)).tolist()
        agreeing = _agreeing(bad, symbols, cols, *values)
        return Decision("wrong", method, _point(symbols, cols, col), entries, notes, agreeing)
    where = f"{near} beside kinks or domain edges" + (", and the given point" if at_used else "")
    method = f"decided numerically at {n} points: equal at every one ({where}; {tol})"
    return Decision("right", method, None, [], notes)


AGREEMENT_MIN = 1e-6
"""A wrong claim "agrees" at a point only where the derivative is at least this large, or exactly 0 in exact
arithmetic: tiny values (softmax at x = -779, which underflows to 0) match within the absolute tolerance
whatever the claim says, so agreeing there says nothing."""


def _agreeing(bad, symbols, cols, c_vals, c_nodes, diffs=None, atol=None) -> dict[Node, float] | None:
    """A compared point where the wrong claim agrees with the derivative in a telling way, or None.

    ``diffs`` (sympy's correct - claimed per entry, None where unknown), when given with ``atol`` (per
    entry): a point agrees only where every known difference is exactly 0.  Agreement within the tolerance is not enough: a missing
    4*x2 next to 3*x1**2 at x1 = -595, x2 = 0.0017 is within rtol, yet no point where the claim is right.
    """
    if not bad.size or not symbols:
        return None
    agree = np.flatnonzero(~bad.any(axis=0))
    if diffs is not None:
        agree = [
            col for col in agree[:EXACT_POINTS] if _zero_around(diffs, symbols, cols[:, col], c_vals[:, col], atol)
        ]
    large = np.abs(c_vals[:, agree]) >= AGREEMENT_MIN
    for j, col in enumerate(agree):
        if large[:, j].all():
            return _point(symbols, cols, int(col))
    for j, col in enumerate(agree[:EXACT_POINTS]):  # small values: telling only if exactly 0 (a branch, not a tail)
        if all(large[e, j] or exactly_zero(c_nodes[e], symbols, cols[:, col]) for e in range(len(c_nodes))):
            return _point(symbols, cols, int(col))
    return None


BESIDE = 1e-9
"""Relative distance (times max(1, |coordinate|)) of the point beside an agreeing one where the differences must
be 0 as well: 3*x claimed for x**2's 2*x is exactly right at x = 0 (a given at= point, say), but on no part of
the domain.  Well inside the nearest sampled distance from an edge (1e-6)."""


def _zero_around(diffs, symbols, point, c_col, atol) -> bool:
    """Whether every known difference is exactly 0 at the point and at one beside it, in no special direction."""
    beside = [v + BESIDE * (1 + 0.37 * k) * max(1.0, abs(v)) for k, v in enumerate(point)]
    return all(
        d is None or exact_sign(d, symbols, p, float(abs(c_col[e])), float(atol[e])) == "zero"
        for e, d in enumerate(diffs)
        for p in (point, beside)
    )


def exactly_zero(node: Node, symbols: Sequence[Node], point: Sequence[float]) -> bool:
    """Whether ``node`` is exactly 0 at the point (sympy, exact coordinates), not merely too small for a float."""
    try:
        expr = to_sympy(node)
        if not sympy_small(expr, SYMPY_EXACT_OPS):
            return False
        value = expr.xreplace({to_sympy(s): exact(v) for s, v in zip(symbols, point)})
        return bool(value == 0 or sp.N(value, 30) == 0)
    except Exception:  # noqa: BLE001 - sympy failing: not shown to be 0
        return False


def _point(symbols, cols, col: int) -> dict[Node, float]:
    return {s: float(cols[i, col]) for i, s in enumerate(symbols)}


def _short(value) -> str:
    text = str(value)
    if len(text) <= 16:
        return text
    n = sp.N(value, 15)
    z = complex(n)
    if z == 0 and n != 0:  # past the smallest float (a difference of exp(-1e6*...)): sympy's digits, not -0
        return str(sp.N(value, 6))
    return f"{z.real:.10g}" if z.imag == 0 else f"{z.real:.6g} + {z.imag:.6g}i (not real)"
