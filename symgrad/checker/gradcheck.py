"""``gradcheck``: a numeric gradient (a hand-written backward pass) against central differences.

``gradcheck(fn, grad_fn, inputs)`` checks a numeric gradient implementation
against central finite differences, and ``gradcheck(fn, inputs)`` checks
symgrad's own gradient of a traceable ``fn``.  Besides the usual tolerance
test it measures how the first-order Taylor remainder shrinks with the step:
quadratically for a right gradient, linearly for a wrong one.  That order does
not depend on a lucky choice of step or tolerance, so it decides when the two
tests disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..api.compiled import Compiled
from ..api.transforms import grad as grad_transform
from ..api.transforms import program_of
from ..errors import InputError, ShapeError
from .claims import numeric_array
from .report import json_float, jsonable

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
            "orders": [None if o is None else json_float(o) for o in self.orders],
            "worst": {k: (jsonable(v) if k != "index" else list(v)) for k, v in self.worst.items()},
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
                if w
                else "  no entry to compare: the inputs have no elements"
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
    gradient of ones), after the differences: each output entry is differenced
    on its own scale, so a large entry does not drown a small one's change.
    """
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if value is not None and not (isinstance(value, (int, float, np.integer, np.floating)) and value >= 0):
            raise InputError(f"gradcheck: {name} must be a number >= 0 (or None for the default), got {value!r}")
    if eps is not None and not 0 < eps < 1:
        raise InputError(f"gradcheck: eps is a relative step, between 0 and 1 (exclusive), got {eps!r}")
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
    return [numeric_array(x, f"inputs[{i}]") for i, x in enumerate(items)], single


def _numeric_fn(fn: Callable) -> Callable:
    def value(xs: list[np.ndarray]) -> tuple[np.ndarray, np.dtype]:
        out = fn(*xs)
        if isinstance(out, (tuple, list)):  # several outputs (of any shapes): all their entries, as one sum
            try:
                arr = np.concatenate([np.asarray(o).reshape(-1) for o in out]) if out else np.zeros(0)
            except ValueError:
                raise InputError("gradcheck: fn returned a tuple whose items are not arrays of numbers") from None
        else:
            arr = np.asarray(out)
        if arr.dtype.kind not in "iuf":
            raise InputError(f"gradcheck: fn must return real numbers, got {arr.dtype}")
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        return arr.astype(np.float64).reshape(-1), dtype

    return value


def _total(values: np.ndarray) -> float:
    """The summed output (the outside gradient of ones) of an elementwise difference of outputs."""
    return float(np.sum(values))


PROBES = (0.1, 10.0)
"""Steps, relative to max(1, |x|), that tell which output entries an input entry moves (see :func:`_moved`)."""


def _moved(value_fn, xs, f0: np.ndarray, i: int, idx: tuple) -> np.ndarray | None:
    """The output entries that input ``i`` at ``idx`` moves: only they add rounding to its differences.

    Counting every entry's size, a large one that does not depend on the input (exp(40) beside
    exp(1) in an elementwise f) would put the rounding level above the small one's whole change.
    None (all entries) for a scalar output: it depends on the input even where a step is below its rounding.
    """
    if f0.size <= 1:
        return None
    moved = np.zeros(f0.shape, dtype=bool)
    for probe in PROBES:
        step = probe * max(1.0, abs(float(xs[i][idx])))
        with np.errstate(all="ignore"):  # a probe may leave fn's domain or overflow: that entry counts as moved
            moved |= (_shifted(value_fn, xs, i, idx, step) != f0) | (_shifted(value_fn, xs, i, idx, -step) != f0)
    return moved


def _size(moved: np.ndarray | None, *values: np.ndarray) -> float:
    """The summed magnitude of the moved output entries (all when ``moved`` is None) of each of ``values``."""
    return float(sum(np.sum(np.abs(v if moved is None else v[moved])) for v in values))


def _analytic(grad_fn: Callable, xs: list[np.ndarray], single: bool) -> list[np.ndarray]:
    out = grad_fn(*[x.copy() for x in xs])
    listed = isinstance(out, (tuple, list))
    # one input, given alone or as a list of one: a bare gradient is its gradient, a list of one holds it
    one = len(xs) == 1 and not (listed and len(out) == 1) and (single or not listed)
    parts = [out] if one else out
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
    compiled = fn if isinstance(fn, Compiled) else Compiled(program_of(fn, shapes))
    g = grad_transform(compiled, argnums=tuple(range(len(xs))))
    grads = [np.asarray(v, dtype=np.float64) for v in g(*xs)]

    def value(ys: list[np.ndarray]) -> tuple[np.ndarray, np.dtype]:
        return np.asarray(compiled(*ys), dtype=np.float64).reshape(-1), np.dtype(np.float64)

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
    steps = _steps(value_fn, xs, f0, eps)
    worst, failing = _tolerance_check(value_fn, xs, grads64, steps, atol, rtol, f_eps, f0)
    tolerance_ok = not failing
    orders = _orders(value_fn, xs, grads64, f0, f_eps, float(g_eps))
    order_ok = None if all(o is None for o in orders) else all(o is None or o > 1.5 for o in orders)
    if order_ok and failing:
        order_ok = _order_may_overrule(value_fn, xs, grads64, failing, f0, f_eps, float(g_eps), notes)
    kinks = _kinks(value_fn, xs, f0, steps, f_eps) if order_ok is False or not tolerance_ok else []
    if kinks:
        # one-sided slopes differ there: the remainder is O(h) along any direction through it, and the central
        # difference is the slopes' mean, which a convention (relu'(0) = 0) need not be: those entries are not judged
        where = ", ".join(f"input {i} index {tuple(idx)}" for i, idx in kinks[:5]) + (" ..." if len(kinks) > 5 else "")
        notes.append(f"f has a kink at {where}: finite differences cannot judge a gradient there, so it is not")
        at_kink = set(kinks)
        ok = tolerance_ok = all((i, tuple(idx)) in at_kink for i, idx, _, _ in failing)
        basis = "tolerance check away from the kinks; the convergence order says nothing at a kink"
    elif order_ok is None or order_ok == tolerance_ok:
        ok = tolerance_ok
        basis = "tolerance check; the remainder is at rounding level" if order_ok is None else "both tests agree"
    else:
        ok = bool(order_ok)
        basis = "the tolerance check and the convergence order disagree: decided by the order"
    return GradcheckReport(ok, tolerance_ok, order_ok, basis, eps, rtol, atol, orders, worst, notes)


def _kinks(value_fn, xs, f0: np.ndarray, steps: dict, f_eps: float) -> list[tuple[int, tuple]]:
    """The entries where f has a kink: one-sided slopes whose gap does not shrink with the step.

    Smooth f: the gap between the forward and backward slopes is about h*f'' (a
    quarter of it at a quarter of the step); at a kink (abs, relu, max at a tie)
    it stays the jump in slope.  A gap within the rounding level says nothing.
    """
    found = []
    for i, x in enumerate(xs):
        for idx in np.ndindex(*x.shape):
            h = steps[i, idx]
            gaps, noise, moved = [], 0.0, _moved(value_fn, xs, f0, i, idx)
            for step in (h, h / 4):
                fp, fm = _shifted(value_fn, xs, i, idx, step), _shifted(value_fn, xs, i, idx, -step)
                gaps.append(abs(_total((fp - f0) - (f0 - fm))) / step)
                noise = 16 * f_eps * _size(moved, fp, fm, f0, f0) / step
            if math.isfinite(gaps[1]) and gaps[1] > 10 * noise and gaps[1] > 0.6 * gaps[0]:
                found.append((i, tuple(idx)))
    return found


MAX_ENTRY_ORDERS = 100
ENTRY_ORDER = 1.8  # a slope between 1 and 2 is a linear term not yet dominant, not a right entry


def _tolerance_check(value_fn, xs, grads, steps: dict, atol, rtol, f_eps, f0) -> tuple[dict, list[tuple]]:
    """The worst entry, and each entry outside the tolerance as (input, index, error, uncertainty).

    The uncertainty of a failing entry's central difference is its truncation error, estimated
    from the difference at twice the step (D(2h) - D(h) = 3 c h^2), plus its rounding error.
    """
    worst: dict[str, object] = {}
    worst_score = -1.0
    failing: list[tuple] = []
    for i, (x, g) in enumerate(zip(xs, grads)):
        for idx in np.ndindex(*x.shape):
            h = steps[i, idx]
            fp, fm = _shifted(value_fn, xs, i, idx, h), _shifted(value_fn, xs, i, idx, -h)
            numeric = _total(fp - fm) / (2 * h)
            analytic = float(g[idx])
            err = abs(analytic - numeric)
            score = err / (atol + rtol * abs(numeric)) if math.isfinite(err) else math.inf
            if not score <= 1.0:
                refined = _converged_difference(value_fn, xs, i, idx, h, numeric, atol, rtol, f_eps)
                if refined is not None:  # the step was too wide for fn (sin at 1e8: eps*|x| spans periods)
                    h, numeric, fp, fm = refined
                    err = abs(analytic - numeric)
                    score = err / (atol + rtol * abs(numeric)) if math.isfinite(err) else math.inf
            if not score <= 1.0:
                wide = _total(_shifted(value_fn, xs, i, idx, 2 * h) - _shifted(value_fn, xs, i, idx, -2 * h)) / (4 * h)
                rounding = f_eps * _size(_moved(value_fn, xs, f0, i, idx), fp, fm) / (2 * h)
                failing.append((i, idx, err, abs(wide - numeric) / 3 + rounding))
            if score > worst_score:
                worst_score = score
                rel = err / abs(numeric) if numeric else (0.0 if err == 0 else math.inf)
                worst = {"input": i, "index": idx, "analytic": analytic, "numeric": numeric}
                worst.update({"abs_error": err, "rel_error": rel})
    return worst, failing


REFINE_STEPS = 8
"""How many times a failing entry's step is divided by 10 looking for central differences that converge."""


def _converged_difference(value_fn, xs, i: int, idx: tuple, h: float, numeric: float, atol, rtol, f_eps: float):
    """``(step, difference, f(x + step), f(x - step))`` at the first smaller step where the central difference stops changing, or None.

    The step ``eps * max(1, |x|)`` suits a function varying on the scale of ``x``; one varying on a
    scale of 1 at ``x = 1e8`` (``sin``) is differenced across many periods, and a right gradient
    looks wrong.  Two successive differences (steps 10x apart) within the tolerance of each other
    have converged to the derivative: a wrong gradient misses that as it misses any accurate one.
    Only while the rounding of fn's values, divided by the step, stays well inside the tolerance:
    below that two differences agree by quantization (float32 values), not by converging.
    """
    previous, x = numeric, float(xs[i][idx])
    for _ in range(REFINE_STEPS):
        h = ((x + h / 10) - x) or h / 10  # a step x + h represents exactly: at 1e8 a step of 6e-4 rounds by 1e-5
        with np.errstate(all="ignore"):
            fp, fm = _shifted(value_fn, xs, i, idx, h), _shifted(value_fn, xs, i, idx, -h)
        current = _total(fp - fm) / (2 * h)
        tolerance = atol + rtol * abs(current)
        if not math.isfinite(current) or f_eps * _size(None, fp, fm) / (2 * h) > tolerance / 16:
            return None
        if abs(current - previous) <= tolerance:
            return h, current, fp, fm
        previous = current
    return None


def _order_may_overrule(value_fn, xs, grads, failing, f0, f_eps, g_eps, notes) -> bool:
    """Whether the convergence order may overrule the failed tolerance check (it says the gradient is right).

    Not where an entry misses by more than its central difference can be off: that miss is real.
    Nor unless the remainder is quadratic along each failing entry's own direction: a random
    direction mixes every entry, and where f curves much more along other entries its h^2 term
    hides a wrong entry's linear term at every step above the rounding level.
    """
    for i, idx, err, uncertainty in failing:
        if not err <= 4 * uncertainty:
            notes.append(
                f"input {i} index {tuple(idx)} misses the central difference by {err:.3g}, beyond its own "
                f"error estimate {uncertainty:.3g} (truncation and rounding): the convergence order cannot overrule that"
            )
            return False
    if len(failing) > MAX_ENTRY_ORDERS:
        notes.append(
            f"{len(failing)} entries fail the tolerance: too many to confirm each by its own convergence order"
        )
        return False
    for i, idx, _, _ in failing:
        entry = _entry_order(value_fn, xs, grads, i, idx, f0, f_eps, g_eps)
        if entry is not None and entry <= ENTRY_ORDER:
            notes.append(f"along input {i} index {tuple(idx)} alone the remainder shrinks with order {entry:.2f}")
            return False
    return True


def _entry_order(value_fn, xs, grads, i: int, idx: tuple, f0: np.ndarray, f_eps: float, g_eps: float) -> float | None:
    """The convergence order along one entry's own coordinate direction (None: at rounding level)."""
    vs = [np.zeros(x.shape) for x in xs]
    vs[i][idx] = 1.0
    g = float(grads[i][idx])
    return _order_along(value_fn, xs, vs, g, abs(g), f0, f_eps, g_eps, _moved(value_fn, xs, f0, i, idx))


STEP_SHRINKS, EDGE_MARGIN = 40, 1e3
"""How often :func:`_step` divides a step that leaves fn's domain by 4, and by how much more it divides the first
one that does not."""


def _steps(value_fn, xs, f0: np.ndarray, eps: float) -> dict[tuple[int, tuple], float]:
    """Each entry's step (:func:`_step`), found once for the tolerance check and the kink search."""
    return {(i, idx): _step(value_fn, xs, f0, i, idx, eps) for i, x in enumerate(xs) for idx in np.ndindex(*x.shape)}


def _step(value_fn, xs, f0: np.ndarray, i: int, idx: tuple, eps: float) -> float:
    """The step for input ``i`` at ``idx``: ``eps * max(1, |x|)``, unless fn is not finite at ``x +- 2h``.

    Then (an input near the edge of fn's domain: log or sqrt of 1e-7) a difference across the edge is nan,
    and a gradient compared with it would be called wrong.  The step is divided by 4 until fn is finite at
    ``x +- 2h`` wherever it is finite at x, and then by EDGE_MARGIN more: the edge lies within 8h, where
    fn curves on the scale of that distance, and a step near it would miss by the truncation error.
    """
    h = first = eps * max(1.0, abs(float(xs[i][idx])))
    inside = np.isfinite(f0)
    for k in range(STEP_SHRINKS):
        with np.errstate(all="ignore"):
            shifted = [_shifted(value_fn, xs, i, idx, s * h) for s in (2.0, -2.0)]
        if all(np.all(np.isfinite(v[inside])) for v in shifted):
            return h if k == 0 else h / EDGE_MARGIN
        h /= 4
    return first


def _shifted(value_fn, xs, i: int, idx: tuple, h: float) -> np.ndarray:
    ys = [x.copy() for x in xs]
    ys[i][idx] += h
    return value_fn(ys)[0]


def _orders(value_fn, xs, grads, f0: np.ndarray, f_eps: float, g_eps: float, directions: int = 3) -> list[float | None]:
    """Slope of log r(h) against log h at the smallest steps above the rounding level, per random direction.

    r(h) = |f(x + h v) - f(x) - h g.v| is O(h^2) when g is the gradient and
    about |h (grad - g).v| when it is not.  Points where r is within the noise
    (rounding of f, and of g itself when g is float32) say nothing and are
    dropped; a direction with fewer than two informative points gives None.
    """
    rng = np.random.default_rng(1)
    orders: list[float | None] = []
    for _ in range(directions):
        vs = [rng.standard_normal(x.shape) for x in xs]
        norm = math.sqrt(sum(float(np.sum(v * v)) for v in vs)) or 1.0
        vs = [v / norm for v in vs]
        slope = sum(float(np.sum(g * v)) for g, v in zip(grads, vs))
        g_size = sum(float(np.sum(np.abs(g * v))) for g, v in zip(grads, vs))
        orders.append(_order_along(value_fn, xs, vs, slope, g_size, f0, f_eps, g_eps))
    return orders


ORDER_STEPS = 16
"""Steps scale * 1e-2 / 4**k of the remainder, k < ORDER_STEPS: the small ones reach where r is quadratic for a
right gradient even beside a domain edge (log of 1e-7 curves on the scale 1e-7); below the rounding level they
are dropped."""


def _order_along(
    value_fn, xs, vs, slope: float, g_size: float, f0: np.ndarray, f_eps: float, g_eps: float, moved=None
) -> float | None:
    """The slope of log r(h) against log h along the direction ``vs`` (``slope`` = g.v, ``g_size`` = sum |g*v|).

    ``moved``: the output entries the direction moves (see :func:`_moved`; None: all).
    """
    scale = max(1.0, max(float(np.max(np.abs(x))) if x.size else 0.0 for x in xs))
    logs = []
    for h in scale * 1e-2 * 4.0 ** -np.arange(ORDER_STEPS):
        fh = value_fn([x + h * v for x, v in zip(xs, vs)])[0]
        r = abs(_total(fh - f0) - h * slope)
        noise = 16 * f_eps * _size(moved, fh, f0) + 16 * g_eps * h * g_size
        if math.isfinite(r) and r > noise:
            logs.append((math.log(h), math.log(r)))
    return _tail_slope(logs)


def _tail_slope(logs: list[tuple[float, float]]) -> float | None:
    """Least-squares slope over the (up to) three smallest informative steps."""
    if len(logs) < 2:
        return None
    tail = logs[-3:]
    hs = np.array([p[0] for p in tail])
    rs = np.array([p[1] for p in tail])
    return float(np.polyfit(hs, rs, 1)[0])
