"""Checking hand-derived derivatives: ``check`` for formulas, ``gradcheck`` for numeric gradient code.

``check(f, claimed)`` compares a student's derivative (an expression, a
function, a formula string or numbers) with symgrad's exact one and explains
a mismatch down to the term: a sign error in one term, a missing factor, a
missing or extra term, the derivative of a nearby function.  Equality is
decided symbolically where sympy can (the difference expands or simplifies to
0, with size guards so a big expression cannot stall it), otherwise by
evaluation at seeded random points with a stated tolerance.

``gradcheck(fn, grad_fn, inputs)`` checks a numeric gradient implementation
(a hand-written backward pass) against central finite differences, and
``gradcheck(fn, inputs)`` checks symgrad's own gradient of a traceable ``fn``.
Besides the usual tolerance test it measures how the first-order Taylor
remainder shrinks with the step: quadratically for a right gradient,
linearly for a wrong one.  That order does not depend on a lucky choice of
step or tolerance, so it decides when the two tests disagree.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..api.compiled import Compiled, symbolic_outputs
from ..api.expressions import jacobian as jacobian_expr
from ..api.transforms import grad as grad_transform
from ..api.transforms import program_of
from ..diff.reverse import vjp_nodes
from ..errors import InputError, ShapeError
from ..formula import parse
from ..ir import builders as B
from ..ir.evaluate import evaluate
from ..ir.node import Node, const, free_symbols, symbol
from ..sympy_bridge import simplify, to_sympy
from ..trace.functions import array_symbol, is_symbolic

__all__ = ["CheckReport", "Component", "GradcheckReport", "check", "gradcheck"]

SYMPY_MAX_OPS = 80
"""Expressions larger than this (sympy's count_ops) are compared numerically only: sympy's time grows fast."""
SYMPY_MAX_POWER = 8
"""Powers of sums with larger integer exponents are not expanded (``(a + b)**50`` would explode)."""
RANDOM_POINTS = 8
RTOL, ATOL = 1e-7, 1e-9
"""Tolerance for equality decided by evaluation at random points (float64 rounding of different forms)."""
NUMBER_RTOL, NUMBER_ATOL = 1e-6, 1e-9
"""Default tolerance for claims given as numbers (hand computations are often rounded)."""
MAX_ELEMENTS_SYMBOLIC = 64
"""Array components with more elements than this are compared numerically."""


# -- reports -----------------------------------------------------------------------------------


@dataclass
class Component:
    """The verdict on one derivative: d f / d variable."""

    name: str
    variable: str
    correct: object
    claimed: object
    difference: object
    ok: bool
    method: str
    compared: str = "gradient"
    correct_text: str = ""
    claimed_text: str = ""
    difference_text: str = ""
    point: dict[str, object] = field(default_factory=dict)
    correct_value: object = None
    claimed_value: object = None
    diagnosis: list[str] = field(default_factory=list)
    witness: dict[str, object] | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "variable": self.variable,
            "ok": self.ok,
            "verdict": "right" if self.ok else "wrong",
            "method": self.method,
            "compared": self.compared,
            "correct": self.correct_text,
            "claimed": self.claimed_text,
            "difference": self.difference_text,
            "point": {k: _jsonable(v) for k, v in self.point.items()},
            "correct_value": _jsonable(self.correct_value),
            "claimed_value": _jsonable(self.claimed_value),
            "diagnosis": list(self.diagnosis),
            "witness": None if self.witness is None else {k: _jsonable(v) for k, v in self.witness.items()},
        }


@dataclass
class CheckReport:
    """The result of :func:`check`: truthy iff every component of the claim is right."""

    function: str
    components: list[Component]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "function": self.function,
            "components": [c.to_dict() for c in self.components],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        wrong = [c for c in self.components if not c.ok]
        names = ", ".join(c.name for c in self.components)
        head = "right" if self.ok else f"WRONG ({len(wrong)} of {len(self.components)} component(s) wrong)"
        lines = [f"check of {names} for {self.function}: {head}"]
        for c in self.components:
            lines.extend(_component_lines(c))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _component_lines(c: Component) -> list[str]:
    if c.ok:
        return [f"  {c.name}: right, {c.correct_text} ({c.method})"]
    lines = [
        f"  {c.name}: WRONG ({c.method})",
        f"    correct {c.name} = {c.correct_text}",
        f"    claimed {c.name} = {c.claimed_text}",
    ]
    if c.difference_text:
        lines.append(f"    difference (correct - claimed), simplified: {c.difference_text}")
    lines.extend(f"    {d}" for d in c.diagnosis)
    if c.point:
        at = ", ".join(f"{k} = {_fmt(v)}" for k, v in c.point.items())
        lines.append(f"    at {at}: correct {_fmt(c.correct_value)}, claimed {_fmt(c.claimed_value)}")
    return lines


def _fmt(v) -> str:
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return np.array2string(arr, separator=", ", formatter={"float_kind": lambda x: f"{x:.10g}"})


def _jsonable(v):
    if v is None:
        return None
    arr = np.asarray(v, dtype=float)
    return [None if not math.isfinite(x) else x for x in arr.tolist()] if arr.ndim else _json_float(float(arr))


def _json_float(x: float):
    return x if math.isfinite(x) else str(x)


# -- the subject: f, its variables and its shapes ------------------------------------------------


@dataclass
class _Subject:
    name: str
    value: object  # Node or object ndarray
    args: dict[str, object]  # name -> symbol or array symbol, in order
    function: Callable | None = None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: np.shape(v) for n, v in self.args.items() if isinstance(v, np.ndarray)}


def _subject(f, at, shapes, name: str | None) -> _Subject:
    if isinstance(f, str):
        parsed = parse(f, shapes)
        return _Subject(name or "f", parsed.value, _sorted_args(parsed.value))
    if callable(f) and not isinstance(f, (Node, np.ndarray)):
        return _function_subject(f, at, shapes, name)
    try:
        value = symbolic_outputs(f)
    except Exception as exc:  # anything symbolic_outputs refuses is a bad f
        raise InputError(f"check: f must be an expression, a formula or a function, got {type(f).__name__}") from exc
    if isinstance(value, (tuple, list)):
        value = np.asarray(value, dtype=object)
    return _Subject(name or "f", value, _sorted_args(value))


def _function_subject(f, at, shapes, name: str | None) -> _Subject:
    if shapes is None and isinstance(at, Mapping):
        shapes = {str(k): np.shape(v) for k, v in at.items() if isinstance(k, str) and np.ndim(v) > 0}
        params = _parameters(f)
        shapes = {k: v for k, v in shapes.items() if k in params} or None
    program = program_of(f, shapes)
    if isinstance(program.outputs, (tuple, list)):
        raise InputError(f"check needs a function with one output; this one returns a {type(program.outputs).__name__}")
    args = {a.name: a.value for a in program.args}
    fname = name or getattr(f, "__name__", "f")
    return _Subject("f" if fname == "<lambda>" else fname, program.outputs, args, f)


def _parameters(f) -> list[str]:
    try:
        return list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return []


def _sorted_args(value) -> dict[str, object]:
    """Free symbols by name; elements ``a[i]`` are gathered into the array symbol ``a`` (shape from the largest index)."""
    nodes = [v for v in np.asarray(value, dtype=object).reshape(-1) if isinstance(v, Node)]
    extents: dict[str, tuple[int, ...]] = {}
    for s in free_symbols(nodes):
        base, index = s.value
        if base in extents and len(extents[base]) != len(index):
            raise InputError(f"check: the symbol {base!r} is used with different numbers of indices")
        old = extents.get(base, (0,) * len(index))
        extents[base] = tuple(max(o, i + 1) for o, i in zip(old, index))
    return {n: (array_symbol(n, ext) if ext else symbol(n)) for n, ext in sorted(extents.items())}


# -- variables and claims -------------------------------------------------------------------------


def _variables(subject: _Subject, wrt, claimed) -> list[tuple[str, object]]:
    if wrt is None:
        if isinstance(claimed, Mapping):
            return [_variable(subject, k) for k in claimed]
        return list(subject.args.items())
    items = wrt if isinstance(wrt, (list, tuple)) else [wrt]
    return [_variable(subject, w) for w in items]


def _variable(subject: _Subject, w) -> tuple[str, object]:
    if isinstance(w, str):
        if w in subject.args:
            return w, subject.args[w]
        if subject.function is not None:
            raise InputError(f"wrt names {w!r}, which is not an argument of {subject.name} ({', '.join(subject.args)})")
        return w, symbol(w)
    if isinstance(w, Node) and w.op == "sym":
        return w.name, w
    if isinstance(w, np.ndarray) and w.size and all(isinstance(v, Node) and v.op == "sym" for v in w.flat):
        return w.flat[0].value[0], w
    raise InputError(f"wrt must be a symbol, an array symbol, a name or a list of them, got {w!r}")


def _claims(subject: _Subject, claimed, variables: list[tuple[str, object]]) -> list:
    if isinstance(claimed, Mapping):
        by_name = {(k.name if isinstance(k, Node) else str(k)): v for k, v in claimed.items()}
        missing = [n for n, _ in variables if n not in by_name]
        if missing:
            raise InputError(f"claimed gives no derivative for {', '.join(missing)} (it has {', '.join(by_name)})")
        return [by_name[n] for n, _ in variables]
    if callable(claimed) and not isinstance(claimed, (Node, np.ndarray)):
        return _function_claims(subject, claimed, variables)
    if len(variables) == 1:
        return [claimed]
    if isinstance(claimed, (list, tuple)) and len(claimed) == len(variables):
        return list(claimed)
    names = ", ".join(n for n, _ in variables)
    raise InputError(
        f"f has {len(variables)} variables ({names}): give claimed as a dict {{name: derivative}} "
        f"or a list of {len(variables)} derivatives, or choose one with wrt="
    )


def _function_claims(subject: _Subject, claimed: Callable, variables) -> list:
    program = program_of(claimed, subject.shapes or None)
    out = program.outputs
    parts = list(out) if isinstance(out, (tuple, list)) else [out]
    if len(parts) == len(variables):
        return parts
    if len(parts) == len(subject.args):
        names = list(subject.args)
        return [parts[names.index(n)] for n, _ in variables]
    raise InputError(
        f"the claimed function returns {len(parts)} value(s); expected one per variable "
        f"({len(variables)}) or one per argument of f ({len(subject.args)})"
    )


def _claim_value(claim, subject: _Subject, label: str):
    """A claim as an expression (Node / object array) or as float64 numbers (a numeric ndarray)."""
    if isinstance(claim, str):
        return parse(claim, subject.shapes).value
    if isinstance(claim, Node):
        return claim
    if isinstance(claim, (bool, np.bool_)):
        raise InputError(f"the claimed {label} must be a number, an expression or a formula, not a bool")
    if isinstance(claim, (int, float, np.integer, np.floating)):
        return np.asarray(float(claim))
    if isinstance(claim, (list, tuple, np.ndarray)):
        return _claim_array(claim, subject, label)
    raise InputError(f"the claimed {label} must be a number, an expression or a formula, not {type(claim).__name__}")


def _claim_array(claim, subject: _Subject, label: str):
    arr = np.asarray(claim, dtype=object) if not isinstance(claim, np.ndarray) else claim
    if arr.dtype != object:
        if arr.dtype.kind not in "iuf":
            raise InputError(f"the claimed {label} must hold real numbers, got an array of dtype {arr.dtype}")
        return arr.astype(np.float64)
    cells = [_claim_value(v, subject, label) for v in arr.reshape(-1)]
    if all(isinstance(c, np.ndarray) and c.dtype != object and c.ndim == 0 for c in cells):
        return np.array([float(c) for c in cells], dtype=np.float64).reshape(arr.shape)
    if any(np.ndim(c) for c in cells):
        raise ShapeError(f"the claimed {label} mixes arrays into a list; write each element as a scalar")
    out = np.empty(arr.shape, dtype=object)
    for idx, c in zip(np.ndindex(*arr.shape), cells):
        out[idx] = c if isinstance(c, Node) else const(float(c))
    return out


# -- the correct derivative -----------------------------------------------------------------------


def _expected(subject: _Subject, var_name: str, var, claim_shape: tuple[int, ...]) -> tuple[object, str]:
    """d f / d var in the form the claim has: gradient, vector-Jacobian product with ones, or Jacobian."""
    f = subject.value
    var_shape = np.shape(var)
    flat_vars = list(np.asarray(var, dtype=object).reshape(-1))
    if isinstance(f, Node):
        return _shaped(vjp_nodes([(f, 1)], flat_vars), var_shape), "gradient"
    f_shape = np.shape(f)
    if claim_shape in (var_shape, ()) and f_shape + var_shape != claim_shape:
        seeds = [(node, 1) for node in f.reshape(-1)]
        return _shaped(vjp_nodes(seeds, flat_vars), var_shape), "vector-Jacobian product with ones"
    if claim_shape == f_shape + var_shape or claim_shape == ():
        return jacobian_expr(f, var), "Jacobian"
    raise ShapeError(
        f"the claimed d{subject.name}/d{var_name} has shape {claim_shape}, but {subject.name} has shape {f_shape} "
        f"and {var_name} has shape {var_shape}: claim the vector-Jacobian product with ones (shape {var_shape}, "
        f"what Q.backward(gradient=ones) computes) or the Jacobian (shape {f_shape + var_shape})"
    )


def _shaped(nodes: list[Node], shape: tuple[int, ...]):
    if not shape:
        return nodes[0]
    return np.array(nodes, dtype=object).reshape(shape)


# -- numeric points ----------------------------------------------------------------------------------


def _symbols_of(*values) -> list[Node]:
    nodes = [v for value in values for v in np.asarray(value, dtype=object).reshape(-1) if isinstance(v, Node)]
    return free_symbols(nodes)


def _point_values(at, subject: _Subject) -> dict[Node, float]:
    """``at`` (names or symbols -> values, or values by position for a function) as symbol -> float."""
    if isinstance(at, (list, tuple)) and subject.function is not None:
        at = dict(zip(subject.args, at))
    if not isinstance(at, Mapping):
        raise InputError(f"at must be a dict from symbols or their names to values, got {type(at).__name__}")
    values: dict[Node, float] = {}
    for key, raw in at.items():
        name = key.name if isinstance(key, Node) else str(key)
        target = subject.args.get(name, key if isinstance(key, Node) else symbol(name))
        arr = _numeric(raw, f"at[{name!r}]")
        if np.shape(target) != arr.shape:
            raise ShapeError(f"at[{name!r}] has shape {arr.shape}, but {name} has shape {np.shape(target)}")
        for idx in np.ndindex(*arr.shape):
            values[np.asarray(target, dtype=object)[idx]] = float(arr[idx])
    return values


def _numeric(raw, label: str) -> np.ndarray:
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{label} must be a number or an array of numbers ({exc})") from None
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise InputError(f"{label} must be real numbers, got {arr.dtype} {arr!r}"[:200])
    return arr.astype(np.float64)


def _random_points(symbols: list[Node], seed: int = 0) -> dict[Node, np.ndarray]:
    """Seeded points: half with positive coordinates (inside log/sqrt domains), half of any sign."""
    rng = np.random.default_rng(seed)
    half = RANDOM_POINTS // 2
    out = {}
    for s in symbols:
        out[s] = np.concatenate([rng.uniform(0.2, 2.0, half), rng.uniform(-2.0, 2.0, RANDOM_POINTS - half)])
    return out


def _eval(value, points: Mapping[Node, object]) -> np.ndarray:
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


# -- deciding equality ----------------------------------------------------------------------------


def _sympy_small(expr) -> bool:
    if sp.count_ops(expr) > SYMPY_MAX_OPS:
        return False
    return all(
        not (p.base.is_Add and p.exp.is_Integer and abs(int(p.exp)) > SYMPY_MAX_POWER) for p in expr.atoms(sp.Pow)
    )


def _symbolic_zero(diff_expr) -> bool | None:
    """True if sympy proves the difference 0; None if it cannot tell (or it would take too long)."""
    if diff_expr == 0:
        return True
    if not _sympy_small(diff_expr):
        return None
    expanded = sp.expand(diff_expr)
    if expanded == 0:
        return True
    try:
        return True if sp.simplify(expanded) == 0 else None
    except (TypeError, ValueError, NotImplementedError):
        return None


def _decide_symbolic(correct, claimed) -> bool:
    """Whether every element pair is proven equal (hash-consing first, then sympy)."""
    c = np.asarray(correct, dtype=object).reshape(-1)
    k = np.asarray(claimed, dtype=object).reshape(-1)
    if c.size > MAX_ELEMENTS_SYMBOLIC:
        return False
    for a, b in zip(c, k):
        if B.as_node(a) is B.as_node(b):
            continue
        if not _symbolic_zero(to_sympy(B.as_node(a)) - to_sympy(B.as_node(b))):
            return False
    return True


def _close(a, b, rtol: float, atol: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))


def _first_difference(correct_vals, claimed_vals, rtol, atol) -> int | None:
    """Index of the first random point where the two differ (points where either is not finite are skipped)."""
    finite = np.isfinite(correct_vals) & np.isfinite(claimed_vals)
    bad = ~_close(correct_vals, claimed_vals, rtol, atol) & finite
    if np.ndim(bad) == 0:  # no symbols at all: one "point"
        return 0 if bool(bad) else None
    axes = tuple(range(bad.ndim - 1))
    per_point = bad.any(axis=axes) if axes else bad
    hits = np.nonzero(per_point)[0]
    return int(hits[0]) if hits.size else None


# -- display: elementwise arrays shown as one formula ---------------------------------------------


def _generic(value, subject: _Subject):
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


def _text(value, subject: _Subject) -> str:
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object:
        return _fmt(arr)
    g = _generic(arr, subject)
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
    if ratio == 1 or sp.count_ops(ratio) > 12:
        return []
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


def _diagnose(correct, claimed, subject: _Subject, var_name: str, var, label: str) -> list[str]:
    """Term-level explanations, on the elementwise formula when there is one, else on the first element."""
    e_node, k_node = _generic(correct, subject), _generic(claimed, subject)
    f_node = _generic(subject.value, subject)
    if e_node is None or k_node is None:
        e_node = B.as_node(np.asarray(correct, dtype=object).reshape(-1)[0])
        k_node = B.as_node(np.asarray(claimed, dtype=object).reshape(-1)[0])
        f_node = subject.value if isinstance(subject.value, Node) else None
    expected, got = to_sympy(e_node), to_sympy(k_node)
    if not (_sympy_small(expected) and _sympy_small(got)):
        return []
    var_sym = to_sympy(symbol(var_name)) if isinstance(var, np.ndarray) else to_sympy(var)
    f_expr = to_sympy(f_node) if f_node is not None and _sympy_small(to_sympy(f_node)) else None
    notes = _term_diagnosis(expected, got, f_expr, var_sym)
    if not notes:
        notes = _factor_diagnosis(expected, got, label)
    return notes + _nearby_diagnosis(f_expr, var_sym, got, label)


def _number_diagnosis(correct_vals, claimed_vals, label: str) -> list[str]:
    c, k = np.asarray(correct_vals, float).reshape(-1), np.asarray(claimed_vals, float).reshape(-1)
    if np.allclose(k, -c, rtol=NUMBER_RTOL, atol=NUMBER_ATOL):
        return [f"your {label} has the wrong sign at every entry"]
    nonzero = np.abs(c) > NUMBER_ATOL
    if nonzero.all() and c.size:
        ratios = k / c
        if np.allclose(ratios, ratios[0], rtol=1e-6):
            r = sp.nsimplify(float(ratios[0]), rational=True, tolerance=1e-9)
            if sp.count_ops(r) < 6:
                return [f"your values are {r} times the correct ones at every entry (a constant factor)"]
    wrong = np.nonzero(~_close(c, k, NUMBER_RTOL, NUMBER_ATOL))[0]
    return [f"{len(wrong)} of {c.size} entries differ (flat indices {wrong[:10].tolist()})"]


# -- check ------------------------------------------------------------------------------------------------


def check(
    f,
    claimed,
    wrt=None,
    at=None,
    *,
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
    ``{name: claim}`` or a list gives one claim per variable.  ``wrt``: a
    symbol, a name or a list of them (default: f's variables).  For a
    vector-valued f, a claim shaped like the variable is compared with the
    vector-Jacobian product with ones (``Q.backward(gradient=ones)``), one
    shaped ``f.shape + var.shape`` with the Jacobian.  ``rtol``/``atol``
    apply to claims given as numbers.
    """
    subject = _subject(f, at, shapes, name)
    variables = _variables(subject, wrt, claimed)
    claims = _claims(subject, claimed, variables)
    point = _point_values(at, subject) if at is not None else None
    tol = (NUMBER_RTOL if rtol is None else rtol, NUMBER_ATOL if atol is None else atol)
    components, notes = [], []
    for (var_name, var), claim in zip(variables, claims):
        component = _component(subject, var_name, var, claim, point, tol)
        components.append(component)
        if component.compared.startswith("vector-Jacobian") and not notes:
            notes.append(
                f"{subject.name} is vector-valued (shape {np.shape(subject.value)}): a claim shaped like the variable "
                f"was compared with the vector-Jacobian product with ones, the 'outside gradient' that "
                f"{subject.name}.backward(gradient=ones) uses"
            )
    return CheckReport(subject.name, components, notes)


def _component(subject: _Subject, var_name: str, var, claim, point, tol) -> Component:
    label = f"d{subject.name}/d{var_name}"
    value = _claim_value(claim, subject, label)
    numeric = not is_symbolic(value) and not (isinstance(value, np.ndarray) and value.dtype == object)
    expected, compared = _expected(subject, var_name, var, np.shape(value))
    if np.shape(value) != np.shape(expected):
        value = _broadcast_claim(value, np.shape(expected), label)
    correct = simplify(expected)
    if numeric:
        return _numeric_component(subject, label, var_name, correct, value, compared, point, tol)
    return _symbolic_component(subject, label, var_name, var, correct, value, compared, point)


def _broadcast_claim(value, shape: tuple[int, ...], label: str):
    if np.shape(value) != ():
        raise ShapeError(f"the claimed {label} has shape {np.shape(value)}, but the derivative has shape {shape}")
    if isinstance(value, np.ndarray) and value.dtype != object:
        return np.broadcast_to(value, shape).astype(np.float64)
    out = np.empty(shape, dtype=object)
    out[...] = B.as_node(value[()] if isinstance(value, np.ndarray) else value)
    return out


def _numeric_component(subject, label, var_name, correct, value, compared, point, tol) -> Component:
    if point is None and _symbols_of(correct):
        raise InputError(f"the claimed {label} is numbers: give the point with at={{name: value}}")
    point = point or {}
    _require(point, _symbols_of(correct), label)
    correct_vals = _eval(correct, point)
    ok = bool(np.all(_close(correct_vals, value, *tol)))
    method = f"compared at the given point (rtol={tol[0]:g}, atol={tol[1]:g})"
    comp = Component(label, var_name, correct, value, None, ok, method, compared)
    comp.correct_text, comp.claimed_text = _text(correct, subject), _fmt(value)
    comp.point = _point_dict(point, subject, correct)
    comp.correct_value, comp.claimed_value = correct_vals, value
    if not ok:
        comp.diagnosis = _number_diagnosis(correct_vals, value, label)
        comp.witness = comp.point
    return comp


def _require(point: Mapping[Node, object], symbols: list[Node], label: str) -> None:
    missing = [s.name for s in symbols if s not in point]
    if missing:
        raise InputError(f"at gives no value for {', '.join(missing)}, which {label} depends on")


def _symbolic_component(subject, label, var_name, var, correct, value, compared, point) -> Component:
    difference = simplify(_subtract(correct, value))
    symbols = _symbols_of(correct, value)
    randoms = _random_points(symbols)
    c_vals, k_vals = _eval(correct, randoms), _eval(value, randoms)
    hit = _first_difference(c_vals, k_vals, RTOL, ATOL)
    if _decide_symbolic(correct, value):
        ok, method = True, "decided symbolically: the difference simplifies to 0"
    elif hit is None:
        ok = True
        method = f"decided numerically: equal at {RANDOM_POINTS} random points (rtol={RTOL:g}, atol={ATOL:g})"
    else:
        ok = False
        method = f"decided numerically: they differ at a random point (rtol={RTOL:g}, atol={ATOL:g})"
    comp = Component(label, var_name, correct, value, difference, ok, method, compared)
    comp.correct_text, comp.claimed_text = _text(correct, subject), _text(value, subject)
    comp.difference_text = _text(difference, subject)
    shown = point if point is not None and all(s in point for s in symbols) else None
    if shown is None and hit is not None:
        shown = {s: float(v[hit]) for s, v in randoms.items()}
    if shown is not None:
        comp.point = _point_dict(shown, subject, correct, value)
        comp.correct_value, comp.claimed_value = _eval(correct, shown), _eval(value, shown)
    if not ok:
        comp.witness = comp.point
        comp.diagnosis = _diagnose(correct, value, subject, var_name, var, label)
        extra = sorted({s.value[0] for s in _symbols_of(value)} - {s.value[0] for s in _symbols_of(subject.value)})
        if extra:
            comp.diagnosis.append(f"the claim uses {', '.join(extra)}, which {subject.name} does not depend on")
    return comp


def _subtract(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        return B.elementwise(lambda u, v: B.add(u, B.mul(-1, v)), a, b)
    return B.add(a, B.mul(-1, b))


def _point_dict(point: Mapping[Node, object], subject: _Subject, *values) -> dict[str, object]:
    """The point as {name: value}, arrays of f's arguments gathered, only the names the values use."""
    used = {s.value[0] for s in _symbols_of(subject.value, *values)}
    out: dict[str, object] = {}
    for name, sym in subject.args.items():
        if name not in used:
            continue
        arr = np.asarray(sym, dtype=object)
        if all(s in point for s in arr.reshape(-1)):
            out[name] = np.array([float(point[s]) for s in arr.reshape(-1)]).reshape(arr.shape)
    for s, v in point.items():
        if s.value[0] in used and s.value[0] not in out:
            out[s.name] = float(v)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


# -- gradcheck -----------------------------------------------------------------------------------------


@dataclass
class GradcheckReport:
    """The result of :func:`gradcheck`: truthy iff the gradient is judged right."""

    ok: bool
    tolerance_ok: bool
    order_ok: bool | None
    basis: str
    eps: float
    rtol: float
    atol: float
    orders: list[float | None]
    worst: dict[str, object]
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "tolerance_ok": self.tolerance_ok,
            "order_ok": self.order_ok,
            "basis": self.basis,
            "eps": self.eps,
            "rtol": self.rtol,
            "atol": self.atol,
            "orders": [None if o is None else _json_float(o) for o in self.orders],
            "worst": {k: (_jsonable(v) if k != "index" else list(v)) for k, v in self.worst.items()},
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        w = self.worst
        orders = ", ".join("rounding level" if o is None else f"{o:.2f}" for o in self.orders)
        met = "met" if self.tolerance_ok else "NOT met"
        lines = [
            f"gradcheck: {'right' if self.ok else 'WRONG'} ({self.basis})",
            (
                f"  finite differences: central, relative step eps={self.eps:g}; tolerance |analytic - numeric| <= "
                f"atol + rtol*|numeric| with atol={self.atol:g}, rtol={self.rtol:g}: {met}"
            ),
            (
                f"  worst entry: input {w['input']} index {tuple(w['index'])}: analytic {w['analytic']:.10g}, "
                f"numeric {w['numeric']:.10g}, abs error {w['abs_error']:.3g}, rel error {w['rel_error']:.3g}"
            ),
            (
                "  observed order of the Taylor remainder |f(x+hv) - f(x) - h*g.v| (2 for a right gradient, "
                f"1 for a wrong one): {orders}"
            ),
        ]
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def gradcheck(
    fn: Callable,
    grad_fn_or_inputs,
    inputs=None,
    *,
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> GradcheckReport:
    """Check a gradient against central finite differences and the Taylor-remainder convergence order.

    ``gradcheck(fn, grad_fn, inputs)``: ``grad_fn(*inputs)`` is a numeric gradient
    (e.g. a hand-written backward pass) with the structure of ``inputs``.
    ``gradcheck(fn, inputs)``: ``fn`` is traced and symgrad's exact gradient is
    checked (a self-test).  ``inputs`` is one array or number, or a tuple/list of
    them.  Inputs are cast to float64: finite differences in float32 lose about
    half the digits (step * curvature vs. rounding / step), which would make
    right float32 gradients look wrong.  A gradient returned in float32 is
    judged with float32 tolerances (defaults atol=1e-5, rtol=1e-3; float64:
    atol=1e-7, rtol=1e-5).  A non-scalar output of fn is summed (the outside
    gradient of ones).
    """
    if callable(grad_fn_or_inputs) and not isinstance(grad_fn_or_inputs, np.ndarray):
        if inputs is None:
            raise InputError("gradcheck(fn, grad_fn, inputs): inputs is missing")
        xs, single = _inputs(inputs)
        value_fn = _numeric_fn(fn)
        grads = _analytic(grad_fn_or_inputs, xs, single)
        notes = []
    else:
        if inputs is not None:
            raise InputError("gradcheck(fn, inputs) takes no third argument; for a gradient function pass it second")
        xs, single = _inputs(grad_fn_or_inputs)
        value_fn, grads = _symgrad_gradient(fn, xs)
        notes = ["self-test: symgrad's exact gradient of the traced function"]
    return _gradcheck(value_fn, xs, grads, eps, atol, rtol, notes)


def _inputs(inputs) -> tuple[list[np.ndarray], bool]:
    single = not isinstance(inputs, (tuple, list))
    items = [inputs] if single else list(inputs)
    if not items:
        raise InputError("gradcheck needs at least one input")
    return [_numeric(x, f"inputs[{i}]") for i, x in enumerate(items)], single


def _numeric_fn(fn: Callable) -> Callable:
    def value(xs: list[np.ndarray]) -> tuple[float, np.dtype]:
        out = fn(*xs)
        arr = np.asarray(out)
        if arr.dtype.kind not in "iuf":
            raise InputError(f"gradcheck: fn must return real numbers, got {arr.dtype}")
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        return float(np.sum(arr.astype(np.float64))), dtype

    return value


def _analytic(grad_fn: Callable, xs: list[np.ndarray], single: bool) -> list[np.ndarray]:
    out = grad_fn(*[x.copy() for x in xs])
    parts = [out] if single and not (isinstance(out, (tuple, list)) and len(out) == 1) else out
    if not isinstance(parts, (tuple, list)) or len(parts) != len(xs):
        got = len(parts) if isinstance(parts, (tuple, list)) else type(out).__name__
        raise InputError(f"grad_fn must return one gradient per input ({len(xs)}), got {got}")
    grads = []
    for i, (g, x) in enumerate(zip(parts, xs)):
        arr = np.asarray(g)
        if arr.dtype.kind not in "iuf":
            raise InputError(f"grad_fn's gradient {i} must be real numbers, got dtype {arr.dtype}")
        if arr.shape != x.shape:
            raise ShapeError(f"grad_fn's gradient {i} has shape {arr.shape}, but input {i} has shape {x.shape}")
        grads.append(arr)
    return grads


def _symgrad_gradient(fn: Callable, xs: list[np.ndarray]):
    shapes = [x.shape or None for x in xs]
    compiled = fn if isinstance(fn, Compiled) else Compiled(program_of(fn, shapes), "numpy", "float64")
    g = grad_transform(compiled, argnums=tuple(range(len(xs))))
    grads = [np.asarray(v, dtype=np.float64) for v in g(*xs)]

    def value(ys: list[np.ndarray]) -> tuple[float, np.dtype]:
        return float(np.sum(compiled(*ys))), np.dtype(np.float64)

    return value, grads


def _gradcheck(value_fn, xs, grads, eps, atol, rtol, notes) -> GradcheckReport:
    g_dtype = np.result_type(*[g.dtype for g in grads])
    g_eps = np.finfo(g_dtype).eps if g_dtype.kind == "f" else np.finfo(np.float64).eps
    low_precision = g_eps > np.finfo(np.float64).eps
    f0, f_dtype = value_fn(xs)
    f_eps = float(np.finfo(f_dtype).eps)
    eps = float(eps if eps is not None else np.cbrt(f_eps))
    atol = float(atol if atol is not None else (1e-5 if low_precision else 1e-7))
    rtol = float(rtol if rtol is not None else (1e-3 if low_precision else 1e-5))
    if low_precision:
        notes.append(f"the gradient is {g_dtype}: judged with its precision (inputs and differences in float64)")
    if f_eps > np.finfo(np.float64).eps:
        notes.append(f"fn computes in {f_dtype}: larger steps and rounding levels are used for it")
    grads64 = [g.astype(np.float64) for g in grads]
    worst, tolerance_ok = _tolerance_check(value_fn, xs, grads64, eps, atol, rtol)
    orders = _orders(value_fn, xs, grads64, f0, f_eps, float(g_eps))
    order_ok = None if all(o is None for o in orders) else all(o is None or o > 1.5 for o in orders)
    if order_ok is None or order_ok == tolerance_ok:
        ok = tolerance_ok
        basis = "tolerance check; the remainder is at rounding level" if order_ok is None else "both tests agree"
    else:
        ok = bool(order_ok)
        basis = "the tolerance check and the convergence order disagree: decided by the order"
    return GradcheckReport(ok, tolerance_ok, order_ok, basis, eps, rtol, atol, orders, worst, notes)


def _tolerance_check(value_fn, xs, grads, eps, atol, rtol) -> tuple[dict, bool]:
    worst: dict[str, object] = {}
    worst_score = -1.0
    for i, (x, g) in enumerate(zip(xs, grads)):
        for idx in np.ndindex(*x.shape):
            h = eps * max(1.0, abs(float(x[idx])))
            numeric = (_shifted(value_fn, xs, i, idx, h) - _shifted(value_fn, xs, i, idx, -h)) / (2 * h)
            analytic = float(g[idx])
            err = abs(analytic - numeric)
            score = err / (atol + rtol * abs(numeric)) if math.isfinite(err) else math.inf
            if score > worst_score:
                worst_score = score
                rel = err / abs(numeric) if numeric else (0.0 if err == 0 else math.inf)
                worst = {"input": i, "index": idx, "analytic": analytic, "numeric": numeric}
                worst.update({"abs_error": err, "rel_error": rel})
    return worst, worst_score <= 1.0


def _shifted(value_fn, xs, i: int, idx: tuple, h: float) -> float:
    ys = [x.copy() for x in xs]
    ys[i][idx] += h
    return value_fn(ys)[0]


def _orders(value_fn, xs, grads, f0: float, f_eps: float, g_eps: float, directions: int = 3) -> list[float | None]:
    """Slope of log r(h) against log h at the smallest steps above the rounding level, per random direction.

    r(h) = |f(x + h v) - f(x) - h g.v| is O(h^2) when g is the gradient and
    about |h (grad - g).v| when it is not.  Points where r is within the noise
    (rounding of f, and of g itself when g is float32) say nothing and are
    dropped; a direction with fewer than two informative points gives None.
    """
    rng = np.random.default_rng(1)
    scale = max(1.0, max(float(np.max(np.abs(x))) if x.size else 0.0 for x in xs))
    steps = scale * 1e-2 * 4.0 ** -np.arange(10)
    orders: list[float | None] = []
    for _ in range(directions):
        vs = [rng.standard_normal(x.shape) for x in xs]
        norm = math.sqrt(sum(float(np.sum(v * v)) for v in vs)) or 1.0
        vs = [v / norm for v in vs]
        slope = sum(float(np.sum(g * v)) for g, v in zip(grads, vs))
        g_size = sum(float(np.sum(np.abs(g * v))) for g, v in zip(grads, vs))
        logs = []
        for h in steps:
            fh = value_fn([x + h * v for x, v in zip(xs, vs)])[0]
            r = abs(fh - f0 - h * slope)
            noise = 16 * f_eps * (abs(fh) + abs(f0)) + 16 * g_eps * h * g_size
            if math.isfinite(r) and r > noise:
                logs.append((math.log(h), math.log(r)))
        orders.append(_tail_slope(logs))
    return orders


def _tail_slope(logs: list[tuple[float, float]]) -> float | None:
    """Least-squares slope over the (up to) three smallest informative steps."""
    if len(logs) < 2:
        return None
    tail = logs[-3:]
    hs = np.array([p[0] for p in tail])
    rs = np.array([p[1] for p in tail])
    return float(np.polyfit(hs, rs, 1)[0])
