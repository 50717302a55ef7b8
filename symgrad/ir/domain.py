"""Where a function lives: seeded sample points inside its real domain, on both sides of every kink.

Random points in one box miss what students get wrong: a claim that is right
for x > 0 only (``abs`` claimed 1), a function defined only for x > 5
(``sqrt(x - 5)``), a branch beyond |x| = 10.  So points are drawn

- of both signs and of magnitudes from 1e-3 to 1e3 in every coordinate;
- beside every *edge* of the expressions: the zero set of an ``abs``/``sign``/
  ``relu`` argument, of ``a - b`` in ``maximum``/``minimum`` and comparisons,
  of a ``where`` condition, of a ``log``/``sqrt``/fractional-power base and of
  ``arg -+ 1`` in ``arcsin``/``arccos``.  An edge is found by bisection on
  segments between pool points where its sign differs, and points are placed
  at several distances on each side of it;

and only the points where every given expression is finite are kept.  Nothing
here imports sympy, so :mod:`symgrad.api.compiled`'s ``verify`` can use
:func:`valid_points` too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import builders as B
from .evaluate import evaluate
from .node import Node, toposort

__all__ = ["Sample", "edges", "sample", "valid_points"]

POOL_SIZE = 192
"""Random candidate points: half log-uniform in |x| from 1e-3 to 1e3, half moderate (|x| in 0.1..3); signs
random, except in every fourth point, whose coordinates are all positive."""
MAX_EDGES = 24
"""At most this many edges are searched (the first ones in topological order)."""
PAIRS_PER_EDGE = 4
BISECTIONS = 48
OFFSETS = (1e-3, 3e-2, 0.3)
"""Distances from an edge, relative to max(1, |edge point|), at which points are placed on each side."""
CLOSE_OFFSET = 3e-5
"""One more distance relative to max(1, |edge point|), a few units of the points' sixth digit: it reaches inside
a narrow interval that starts at an edge (``where(x > 0.999, ...)`` beside arcsin's edge at 1, ``abs(x - 17.3) <
1e-3``), which the offsets above step over."""
NEAR_OFFSET, NEAR_FLOOR = 1e-2, 1e-4
"""One more distance, relative to max(|edge point|, NEAR_FLOOR) alone: it reaches inside a narrow branch near 0
(``abs(x) < 1e-4``, a series branch ``abs(x) < 1e-3``), which the offsets above step over."""
WIDE_MAGNITUDES = (-9.0, 9.0)
"""log10 of the magnitudes of the extra candidates an edge is looked for among when the pool shows no sign
change: a kink at x = 5000 (``maximum(x, 5000)``) or a branch inside |x| < 1e-4 lies outside the pool."""

_COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
_KINK_OF_ARGUMENT = frozenset({"abs", "sign", "relu", "log"})
_DIFFERENCE_OF_OPERANDS = frozenset({"maximum", "minimum"}) | _COMPARISONS


@dataclass(frozen=True)
class Sample:
    """Points (symbol -> values, one entry per point) where every expression sampled is finite."""

    points: dict[Node, np.ndarray]
    size: int
    beside_edges: int
    """How many of the points lie beside a kink, a branch or a domain edge."""
    candidates: int
    """How many candidate points were tried."""


def edges(nodes: Sequence[Node]) -> list[Node]:
    """The expressions whose sign change is a kink, a branch or an edge of the real domain of ``nodes``."""
    found: dict[Node, None] = {}
    for node in toposort(list(nodes)):
        for g in _edges_of(node):
            if g.op != "const":
                found.setdefault(g, None)
    return list(found)


def _edges_of(node: Node) -> list[Node]:
    op, args = node.op, node.args
    if op in _KINK_OF_ARGUMENT:
        return [args[0]]
    if op == "log1p":
        return [B.add(args[0], 1)]
    if op in ("arcsin", "arccos"):
        return [B.add(args[0], -1), B.add(args[0], 1)]
    if op in _DIFFERENCE_OF_OPERANDS:
        return [B.add(args[0], B.mul(-1, args[1]))]
    if op == "where" and args[0].op not in _COMPARISONS:
        return [args[0]]
    if op == "pow":
        e = args[1].value if args[1].op == "const" else None
        integer = isinstance(e, int) or (isinstance(e, float) and e.is_integer())  # exact: x**(10**400) too
        if not integer or e < 0:  # a domain edge (x**0.5) or a pole (x**-1)
            return [args[0]]
    return []


def values_at(nodes: Sequence[Node], symbols: Sequence[Node], points: np.ndarray) -> np.ndarray:
    """Each node's value at each point: shape ``(len(nodes), number of points)``; ``points`` is (symbols, points)."""
    m = points.shape[1]
    if not nodes:
        return np.empty((0, m))
    env = {s: points[i] for i, s in enumerate(symbols)}
    results = evaluate(list(nodes), env)
    with np.errstate(all="ignore"):
        return np.array([np.broadcast_to(np.asarray(r, dtype=float), (m,)) for r in results])


def sample(
    nodes: Sequence[Node],
    symbols: Sequence[Node],
    count: int = 40,
    seed: int = 0,
    *,
    also: Sequence[Node] = (),
    max_edges: int = MAX_EDGES,
) -> Sample:
    """About ``count`` seeded points where every node of ``nodes`` is finite.

    Half lie beside the edges of ``nodes`` and ``also`` (expressions whose
    kinks matter but whose finiteness does not, such as a claim), at least
    one on each side of each edge where that side is in the domain (so more
    than ``count`` points come back for many edges); the rest are drawn from
    the pool.  Fewer points (maybe none) come back when the domain is small or
    empty.
    """
    symbols = list(symbols)
    rng = np.random.default_rng(seed)
    pool = _short(_pool(len(symbols), rng))
    if not symbols:
        ok = bool(np.all(np.isfinite(values_at(nodes, symbols, np.zeros((0, 1))))))
        return Sample({}, int(ok), 0, 1)
    gs = edges([*nodes, *also])[:max_edges] if max_edges > 0 else []
    beside = _short(_beside_edges(gs, symbols, pool, rng, lambda: _short(_wide(len(symbols), [seed, 1]))))
    near = _finite(nodes, symbols, beside)  # in the order of _ordered: a prefix covers every edge
    far = _finite(nodes, symbols, pool)
    wanted = max(count // 2, 2 * len(gs)) if len(far) >= count - count // 2 else count - len(far)
    n_near = min(len(near), wanted)
    chosen_near = near[:n_near]
    chosen_far = far[: max(count - n_near, 0)]
    cols = np.concatenate([beside[:, chosen_near], pool[:, chosen_far]], axis=1)
    points = {s: cols[i].copy() for i, s in enumerate(symbols)}
    return Sample(points, cols.shape[1], n_near, pool.shape[1] + beside.shape[1])


def valid_points(
    nodes: Sequence[Node], symbols: Sequence[Node], count: int = 32, seed: int = 0, *, max_edges: int = MAX_EDGES
) -> dict[Node, np.ndarray]:
    """About ``count`` seeded points where every node is finite, beside every kink and domain edge.

    The points are ``{symbol: values}``, one value per point (more than
    ``count`` when there are many edges; fewer, maybe none, for a small or
    empty domain).  ``max_edges=0`` skips the edge search (pool points only:
    for very large graphs, where each bisection step evaluates every edge).
    """
    return sample(nodes, symbols, count, seed, max_edges=max_edges).points


def _short(points: np.ndarray) -> np.ndarray:
    """Coordinates rounded to 6 significant digits: points a report can print and exact arithmetic can read."""
    return np.array([float(f"{v:.6g}") for v in points.reshape(-1)]).reshape(points.shape)


def _pool(n: int, rng: np.random.Generator) -> np.ndarray:
    mags = np.empty((n, POOL_SIZE))
    mags[:, 0::2] = rng.uniform(0.1, 3.0, (n, (POOL_SIZE + 1) // 2))  # moderate and wide alternate, so any
    mags[:, 1::2] = 10.0 ** rng.uniform(-3.0, 3.0, (n, POOL_SIZE // 2))  # prefix of the pool has both
    signs = rng.choice([-1.0, 1.0], (n, POOL_SIZE))
    signs[:, 2::4] = 1.0  # every fourth point all positive: with many variables, random signs rarely all
    return signs * mags  # land in a domain like sqrt(a[i]) for every i


def _wide(n: int, seed: list[int]) -> np.ndarray:
    """Candidates for the edge search only: magnitudes log-uniform over :data:`WIDE_MAGNITUDES`, random signs.

    Their own seeded stream: the pool's points, and the edges found among them, stay what they were.
    """
    rng = np.random.default_rng(seed)
    mags = 10.0 ** rng.uniform(*WIDE_MAGNITUDES, (n, POOL_SIZE))
    return rng.choice([-1.0, 1.0], (n, POOL_SIZE)) * mags


def _finite(nodes: Sequence[Node], symbols: Sequence[Node], points: np.ndarray) -> np.ndarray:
    """Indices of the points (columns) where every node is finite."""
    if points.shape[1] == 0:
        return np.zeros(0, dtype=int)
    values = values_at(nodes, symbols, points)
    return np.flatnonzero(np.all(np.isfinite(values), axis=0))


def _beside_edges(
    gs: list[Node], symbols: list[Node], pool: np.ndarray, rng: np.random.Generator, wide: Callable[[], np.ndarray]
) -> np.ndarray:
    """Points at the offsets on each side of each edge, in the order they should be kept (see :func:`_ordered`).

    An edge is looked for among the pool's points; where its sign does not change there, among the pool
    and the candidates ``wide()`` makes (made once, when first needed) together: a kink at x = 5000, a
    branch inside |x| < 1e-4.
    """
    n = len(symbols)
    if not gs:
        return np.empty((n, 0))
    signs = values_at(gs, symbols, pool)
    both = wide_signs = None
    lo_list, hi_list, owner = [], [], []
    for k in range(len(gs)):
        neg, pos = np.flatnonzero(signs[k] < 0), np.flatnonzero(signs[k] > 0)
        cands = pool
        if not (neg.size and pos.size):
            if wide_signs is None:
                extra = wide()
                both = np.concatenate([pool, extra], axis=1)
                wide_signs = np.concatenate([signs, values_at(gs, symbols, extra)], axis=1)
            neg, pos = np.flatnonzero(wide_signs[k] < 0), np.flatnonzero(wide_signs[k] > 0)
            cands = both
        if neg.size and pos.size:
            lo_list.append(cands[:, rng.choice(neg, PAIRS_PER_EDGE)])
            hi_list.append(cands[:, rng.choice(pos, PAIRS_PER_EDGE)])
            owner += [k] * PAIRS_PER_EDGE
    if not owner:
        return np.empty((n, 0))
    lo, hi = np.concatenate(lo_list, axis=1), np.concatenate(hi_list, axis=1)
    direction = hi - lo
    rows = np.array(owner)
    for _ in range(BISECTIONS):  # g(lo) < 0 < g(hi); a nan midpoint counts as the low side
        mid = 0.5 * (lo + hi)
        up = values_at(gs, symbols, mid)[rows, np.arange(len(owner))] > 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    root = 0.5 * (lo + hi)
    unit = direction / np.maximum(np.linalg.norm(direction, axis=0), 1e-300)
    size = np.max(np.abs(root), axis=0)
    scale = np.maximum(1.0, size)
    near = NEAR_OFFSET * np.maximum(size, NEAR_FLOOR)
    return _ordered(root, unit * scale, len(owner) // PAIRS_PER_EDGE, unit * near)


def _ordered(root: np.ndarray, step: np.ndarray, n_edges: int, near: np.ndarray) -> np.ndarray:
    """The points ``root +- offset*step``, ordered so that any prefix covers the edges evenly.

    Level by level (first pair at the middle offset, first pair at the smallest,
    ...), each level holding both sides of every edge: the first ``2 * edges``
    points put one point on each side of each edge.
    """
    n = root.shape[0]
    root = root.reshape(n, n_edges, PAIRS_PER_EDGE)
    step = step.reshape(n, n_edges, PAIRS_PER_EDGE)
    near = near.reshape(n, n_edges, PAIRS_PER_EDGE)
    levels = ((OFFSETS[1], step), (OFFSETS[0], step), (1.0, near), (CLOSE_OFFSET, step), (OFFSETS[2], step))
    cols = [
        root[:, k, pair] + side * d * st[:, k, pair]
        for pair in range(PAIRS_PER_EDGE)
        for d, st in levels
        for k in range(n_edges)
        for side in (-1.0, 1.0)
    ]
    return np.stack(cols, axis=1)
