"""Symbolic differentiation on the graph: new nodes from old, no sympy involved.

Reverse mode gives gradients and vector-Jacobian products, forward mode gives
Jacobian-vector products, and derivative tensors of any order come from reverse
mode applied to the entries of the previous order.  Every pass is
*sparsity-aware*: it first marks the nodes that depend on the variables it
differentiates with respect to, and walks only those, so the cost of a
Hessian follows the size of its structurally non-zero part.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..errors import DiffError
from ..ir import builders as B
from ..ir.custom import CUSTOM, note_derivatives
from ..ir.node import Node, const, normalize_number, toposort
from ..ir.ops import OPS, power_rule
from ..limits import checkpoint, gc_paused

ZERO = const(0)
ONE = const(1)


def check_variables(wrt: Sequence[Node]) -> None:
    """Raise DiffError unless every entry is a symbol (the only thing a derivative is taken with respect to)."""
    for v in wrt:
        if not isinstance(v, Node) or v.op != "sym":
            raise DiffError(f"can only differentiate with respect to symbols, got {v!r}")


def _dependents(order: list[Node], wrt: set[Node]) -> set[Node]:
    """The nodes of ``order`` (a topological order) that depend on a variable in ``wrt``."""
    marked: set[Node] = set()
    add, disjoint = marked.add, marked.isdisjoint
    for node in order:
        if node in wrt or not disjoint(node.args):  # isdisjoint: the operands tested in C, no generator
            add(node)
    return marked


def partials_of(node: Node) -> tuple[Node, ...]:
    """``d node / d operand`` for each operand: the op table's rule, or a custom function's (else its body's)."""
    if node.op == CUSTOM:
        return node.value.partials_at(node.args, gradient_nodes)
    return OPS[node.op].partials(B, node.args, node)


def _local_partials(node: Node, marked: set[Node], memo: dict | None = None) -> list[tuple[Node, Node]]:
    """``(operand, d node / d operand)`` for the operands that depend on the variables.

    ``memo``: the op-table partials already built per node, for passes that
    meet a node in many sweeps (the entries of a Hessian).
    """
    if node.op == "add":  # every partial is 1
        return [(a, ONE) for a in node.args if a in marked]
    if node.op == "mul":  # skip building products for operands that are constant here
        args = node.args
        if len(args) == 2:
            a, b = args
            return [(p, q) for p, q in ((a, b), (b, a)) if p in marked]
        return [(a, B.mul(*(args[:i] + args[i + 1 :]))) for i, a in enumerate(args) if a in marked]
    if memo is None:
        partials = partials_of(node)
    else:
        partials = memo.get(node)
        if partials is None:
            partials = memo[node] = partials_of(node)
    return [(a, p) for a, p in zip(node.args, partials) if a in marked]


def vjp_nodes(seeds: Sequence[tuple[Node, object]], wrt: Sequence[Node]) -> list[Node]:
    """Reverse mode: ``sum_k seed_k * d root_k / d v`` for each ``v`` in ``wrt``."""
    check_variables(wrt)
    with gc_paused():
        return _vjp_nodes(seeds, wrt)


def _vjp_nodes(seeds: Sequence[tuple[Node, object]], wrt: Sequence[Node]) -> list[Node]:
    """:func:`vjp_nodes` with ``wrt`` already checked."""
    roots = [root for root, _ in seeds]
    order, marked = _marked_order(roots, set(wrt))
    checkpoint()  # a sweep may build no new node (all hash-consed hits) yet take long: honour a time budget
    adjoint = _accumulate(order, marked, seeds)
    result = [adjoint.get(v, ZERO) for v in wrt]
    note_derivatives(roots, result)  # so verify=True knows which custom rules built them
    return result


def _marked_order(roots: Sequence[Node], wrt: set[Node]) -> tuple[list[Node], set[Node]]:
    """The nodes under ``roots`` that depend on ``wrt``, in :func:`toposort`'s order, and as a set.

    The backward loop of a sweep then visits only what carries an adjoint.
    """
    order = toposort(roots)
    marked = _dependents(order, wrt)
    return [n for n in order if n in marked], marked


def _accumulate(
    order: list[Node], marked: set[Node], seeds: Sequence[tuple[Node, object]], memo: dict | None = None
) -> dict[Node, Node]:
    """The backward loop of a sweep: the adjoint of each variable reached, from ``order`` (marked nodes, in order).

    A node's contributions are kept as the one term, or a list once a second
    one arrives (most nodes have one user): the sum is one ``B.add`` of the
    terms in the order they came.  A term is a node, or a :data:`Scaled` pair
    while it has only passed through linear nodes (see :func:`_propagate`).
    """
    contributions: dict[Node, Node | Scaled | list] = {}
    for root, seed in seeds:
        if root in marked:
            _contribute(contributions, root, B.as_node(seed))
    adjoint: dict[Node, Node] = {}
    pop = contributions.pop
    for node in reversed(order):
        parts = pop(node, None)
        if parts is None:
            continue
        cls = parts.__class__
        if cls is list:
            k, g = ONE, B.add_scaled(parts)  # a scaled term that collects with another is not built alone
        elif cls is tuple:
            k, g = parts
        else:
            k, g = ONE, parts
        if node.op == "sym":
            adjoint[node] = g if k is ONE else k if g is ONE else B.mul(k, g)
        elif g is not ZERO:
            _propagate(contributions, node, k, g, marked, memo)
    return adjoint


Scaled = tuple  # (k, g): the adjoint term k*g, its number k (a constant node) not yet multiplied in
"""A term reached only through sums and number-times-factor nodes carries its number apart.

Reverse mode multiplies an adjoint by a node's number at each ``c*t`` it passes
(``0.9*y``, ``100*(...)**2``, ``-x``); done eagerly, each such step builds a
node, and a number times a short sum distributes into a new sum whose nodes the
next step copies again (half of the nodes a Rosenbrock gradient built were
such intermediates).  Carried apart, the numbers multiply as Python numbers and
the term is built once, where a non-linear node or a variable needs it: the
same node the eager steps end in, up to the rounding of the product of floats.
"""

# A product of numbers carried apart only while it is an exact number or a float this far from
# overflow and underflow: the eager steps multiply it into the term's coefficients one at a time,
# so a product of 1e200 and 1e200 that the term's 1e-300 would bring back must not become inf first.
_SAFE_SCALE = (1e-100, 1e100)


def _scaled(k: Node, c: Node, g: Node):
    """The term ``(k*c) * g`` for constants ``k`` (carried) and ``c`` (a node's), kept apart while that is safe."""
    if k is ONE:
        return (c, g)  # c is no 1: a product's number is never 1
    kc = B.times(k.value, c.value)  # an exact number past the float range and a float: inf, as float arithmetic
    if kc.__class__ is float and not _SAFE_SCALE[0] < abs(kc) < _SAFE_SCALE[1]:  # before 0.0 normalizes to 0
        return B.mul(c, B.mul(k, g))  # the eager steps, in their order
    kc = normalize_number(kc)
    return g if kc == 1 else (const(kc), g)


def _contribute(contributions: dict, node: Node, term) -> None:
    held = contributions.get(node)
    if held is None:
        contributions[node] = term
    elif held.__class__ is list:
        held.append(term)
    else:
        contributions[node] = [held, term]


def _propagate(contributions: dict, node: Node, k, g: Node, marked: set[Node], memo: dict | None) -> None:
    """Send ``k * g * d node / d arg`` to each marked operand (sums and products inline: no partials list).

    Through a sum and a number times one factor the number ``k`` stays apart
    (:data:`Scaled`), as it does where the adjoint is that number alone into
    the factors of a product with a number and into the base of a constant
    power (each square of a sum of squares); elsewhere ``k*g`` is built first.
    """
    op, args = node.op, node.args
    if op == "add":  # every partial is 1: each operand gets the term itself
        term = g if k is ONE else (k, g)
        for a in args:
            if a in marked:
                _contribute(contributions, a, term)
        return
    if op == "mul" and len(args) == 2:
        a, b = args
        if a.op == "const":  # c*t: t's partial is the number c (operands are sorted, a number first)
            _contribute(contributions, b, _scaled(k, a, g))  # b is marked: a number is not
            return
        if a in marked:
            _contribute(contributions, a, _times(k, g, b))
        if b in marked:
            _contribute(contributions, b, _times(k, g, a))
        return
    if op == "mul" and g is ONE and args[0].op == "const":  # c*a*b*...: a's term is (k*c) * b*..., built once
        c, factors = args[0], args[1:]
        for i, a in enumerate(factors):
            if a in marked:
                others = factors[:i] + factors[i + 1 :]
                _contribute(contributions, a, _scaled(k, c, others[0] if len(others) == 1 else B.mul(*others)))
        return
    if op == "pow" and args[1].op == "const":  # k*g * e*base**(e-1), the numbers k and e multiplied apart
        e, factor = power_rule(B, *args)  # the base is marked: the exponent is a number
        if g is ONE:  # a square in a sum of squares
            _contribute(contributions, args[0], _scaled(k, e, factor))
        else:
            term = _scaled(k, e, g)
            ke, g = term if term.__class__ is tuple else (ONE, term)
            _contribute(contributions, args[0], _times(ke, g, factor))
        return
    for arg, partial in _local_partials(node, marked, memo):
        _contribute(contributions, arg, _times(k, g, partial))


def _times(k: Node, g: Node, p: Node) -> Node:
    """The term ``k*g*p`` (``k`` a carried number, ``g`` an adjoint, ``p`` a local partial), the number multiplied last.

    ``g`` is often a short sum, which a number alone would distribute over
    (``k*(a + b) -> k*a + k*b``, new terms and a new sum, used once as a factor);
    times the partial first, the number then only becomes the product's
    coefficient, as sympy keeps ``k*(a + b)*p``.
    """
    if g is ONE or p is ONE:
        gp = p if g is ONE else g
        return gp if k is ONE else k if gp is ONE else B.mul(k, gp)
    return B.mul(g, p) if k is ONE else B.mul(k, g, p)


def gradient_nodes(root: Node, wrt: Sequence[Node]) -> list[Node]:
    """The gradient of one scalar node with respect to ``wrt``, in one reverse sweep."""
    return vjp_nodes([(root, 1)], wrt)


def derivative_tensor(root: Node, wrt: Sequence[Node], order: int) -> dict[tuple[int, ...], Node]:
    """All partials of ``root`` of the given order, keyed by *sorted* index tuples.

    Mixed partials commute, so only the unique entries (i1 <= i2 <= ...) are built:
    entry ``(..., i, j)`` is the derivative of entry ``(..., i)`` with respect to
    ``wrt[j]`` for ``j >= i`` only, one reverse sweep per entry of the order before.
    """
    check_variables(wrt)
    with gc_paused():
        return _derivative_tensor(root, wrt, order)


def _derivative_tensor(root: Node, wrt: Sequence[Node], order: int) -> dict[tuple[int, ...], Node]:
    """:func:`derivative_tensor`, each sweep costing what the nodes it visits cost, not ``len(wrt)``.

    The sweep of entry ``(..., i)`` differentiates with respect to ``wrt[i:]``.
    Rather than a set of those (and a result list over them) per sweep, each
    node of an order's graph gets, in one walk, the last position in ``wrt`` of
    a variable it depends on (:func:`_reach`); a sweep then walks only the
    nodes reaching position ``i`` or later -- the nodes a sweep over
    ``wrt[i:]`` marks, in the same order -- and reads off the variables it
    reached.  The op-table partials of a node met by many sweeps are built once.
    """
    positions: dict[Node, list[int]] = {}
    for j, v in enumerate(wrt):
        positions.setdefault(v, []).append(j)
    memo: dict[Node, tuple[Node, ...]] = {}
    level: dict[tuple[int, ...], Node] = {(): root}
    for _ in range(order):
        live = {idx: node for idx, node in level.items() if node is not ZERO and node.op != "const"}
        reach = _reach(list(live.values()), positions) if len(live) > 1 else None
        nxt: dict[tuple[int, ...], Node] = {}
        for idx, node in live.items():
            start = idx[-1] if idx else 0
            for j, g in _entry_sweep(node, start, positions, reach, memo):
                if g is not ZERO:
                    nxt[idx + (j,)] = g
        level = nxt
    return level


def _reach(roots: list[Node], positions: dict[Node, list[int]]) -> dict[Node, int]:
    """For each node under ``roots`` that depends on a variable: the last position of such a variable in ``wrt``.

    Nodes depending on none are left out (a sweep never enters them).
    """
    reach: dict[Node, int] = {}
    get = reach.get
    for node in toposort(roots):
        if node.args:
            r = max([get(a, -1) for a in node.args])
            if r >= 0:
                reach[node] = r
        elif node in positions:
            reach[node] = positions[node][-1]
    return reach


def _reaching(root: Node, reach: dict[Node, int], start: int) -> tuple[list[Node], set[Node]]:
    """:func:`_marked_order` for the variables at positions ``start`` and later, from the precomputed ``reach``.

    The walk enters only nodes reaching ``start``: none below the others is
    marked, so the marked nodes come in the same order as in the full walk.
    """
    get = reach.get
    order = toposort([root], enter=lambda child: get(child, -1) >= start)
    return order, set(order)


def _entry_sweep(
    root: Node, start: int, positions: dict[Node, list[int]], reach: dict[Node, int] | None, memo: dict
) -> list[tuple[int, Node]]:
    """``(j, d root / d wrt[j])`` for the positions ``j >= start`` of the variables the sweep reaches, by ``j``.

    ``reach`` None: the only sweep of its order, which marks as it walks
    (cheaper than computing ``reach`` first).
    """
    if reach is None:
        order, marked = _marked_order([root], {v for v, js in positions.items() if js[-1] >= start})
    elif reach.get(root, -1) >= start:
        order, marked = _reaching(root, reach, start)
    else:
        return []
    checkpoint()
    adjoint = _accumulate(order, marked, ((root, ONE),), memo)
    note_derivatives([root], list(adjoint.values()))
    found = [(j, g) for v, g in adjoint.items() for j in positions[v] if j >= start]
    found.sort(key=_first)
    return found


def _first(pair: tuple[int, Node]) -> int:
    return pair[0]


def expand_symmetric(entries: dict[tuple[int, ...], Node], n: int, order: int) -> np.ndarray:
    """The full ``(n,) * order`` tensor of nodes from its sorted-index entries."""
    full = np.full((n,) * order, ZERO, dtype=object)
    fill_symmetric(full, entries)
    return full


def fill_symmetric(out: np.ndarray, entries: dict[tuple[int, ...], Node]) -> None:
    """Write each sorted-index entry into ``out`` (filled with ZERO) at every permutation of its index.

    A Hessian of 3,000 variables has 9*10^6 entries but some 6,000 computed
    ones: up to order 3 the entries are written with one numpy assignment per
    order of the axes (2 or 6), so the cost follows the computed entries, not
    the size of the tensor; higher orders (many axis orders, few entries)
    and a 0-d tensor are written entry by entry.
    """
    order = out.ndim
    if not entries:
        return
    if not 1 <= order <= 3:
        for idx, node in entries.items():
            for perm in set(itertools.permutations(idx)):
                out[perm] = node
        return
    index = np.array(list(entries), dtype=np.intp).reshape(len(entries), order)
    values = np.fromiter(entries.values(), dtype=object, count=len(entries))
    for axes in itertools.permutations(range(order)):
        out[tuple(index[:, a] for a in axes)] = values
