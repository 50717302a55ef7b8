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
from ..ir.node import Node, const, toposort
from ..ir.ops import OPS
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
    for node in order:
        if node in wrt or any(a in marked for a in node.args):
            marked.add(node)
    return marked


def partials_of(node: Node) -> tuple[Node, ...]:
    """``d node / d operand`` for each operand: the op table's rule, or a custom function's (else its body's)."""
    if node.op == CUSTOM:
        return node.value.partials_at(node.args, gradient_nodes)
    return OPS[node.op].partials(B, node.args, node)


def _local_partials(node: Node, marked: set[Node]) -> list[tuple[Node, Node]]:
    """``(operand, d node / d operand)`` for the operands that depend on the variables."""
    if node.op == "add":  # every partial is 1
        return [(a, ONE) for a in node.args if a in marked]
    if node.op == "mul":  # skip building products for operands that are constant here
        args = node.args
        if len(args) == 2:
            a, b = args
            return [(p, q) for p, q in ((a, b), (b, a)) if p in marked]
        return [(a, B.mul(*(args[:i] + args[i + 1 :]))) for i, a in enumerate(args) if a in marked]
    partials = partials_of(node)
    return [(a, p) for a, p in zip(node.args, partials) if a in marked]


def vjp_nodes(seeds: Sequence[tuple[Node, object]], wrt: Sequence[Node]) -> list[Node]:
    """Reverse mode: ``sum_k seed_k * d root_k / d v`` for each ``v`` in ``wrt``."""
    check_variables(wrt)
    with gc_paused():
        return _vjp_nodes(seeds, wrt)


def _vjp_nodes(seeds: Sequence[tuple[Node, object]], wrt: Sequence[Node]) -> list[Node]:
    """:func:`vjp_nodes` with ``wrt`` already checked (a Hessian sweeps once per entry: checked once)."""
    wrt_set = set(wrt)
    roots = [root for root, _ in seeds]
    order = toposort(roots)
    checkpoint()  # a sweep may build no new node (all hash-consed hits) yet take long: honour a time budget
    marked = _dependents(order, wrt_set)
    contributions: dict[Node, list[Node]] = {}
    for root, seed in seeds:
        if root in marked:
            contributions.setdefault(root, []).append(B.as_node(seed))
    adjoint: dict[Node, Node] = {}
    for node in reversed(order):
        parts = contributions.pop(node, None)
        if parts is None:
            continue
        g = parts[0] if len(parts) == 1 else B.add(*parts)  # one user: nothing to add
        if node.op == "sym":
            adjoint[node] = g
            continue
        if g is ZERO:
            continue
        for arg, partial in _local_partials(node, marked):
            term = partial if g is ONE else g if partial is ONE else B.mul(g, partial)
            contributions.setdefault(arg, []).append(term)
    result = [adjoint.get(v, ZERO) for v in wrt]
    note_derivatives(roots, result)  # so verify=True knows which custom rules built them
    return result


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
    level: dict[tuple[int, ...], Node] = {(): root}
    for _ in range(order):
        nxt: dict[tuple[int, ...], Node] = {}
        for idx, node in level.items():
            start = idx[-1] if idx else 0
            if node is ZERO or node.op == "const":
                continue
            for j, g in enumerate(_vjp_nodes([(node, 1)], wrt[start:]), start):
                if g is not ZERO:
                    nxt[idx + (j,)] = g
        level = nxt
    return level


def expand_symmetric(entries: dict[tuple[int, ...], Node], n: int, order: int) -> np.ndarray:
    """The full ``(n,) * order`` tensor of nodes from its sorted-index entries."""
    full = np.full((n,) * order, ZERO, dtype=object)
    for idx, node in entries.items():
        for perm in set(itertools.permutations(idx)):
            full[perm] = node
    return full
