"""Linearize a set of output nodes into the statements that compute them.

The schedule is shared by every backend: it decides which nodes are computed
(each once, in topological order), which operands a parent absorbs into its
own statement (a single-use ``-t`` inside a sum becomes a subtraction, a
single-use ``1/t`` inside a product a division), and where each value is used
for the last time (so the numpy backend can reuse its buffers).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.node import Node, toposort


@dataclass(frozen=True)
class Schedule:
    outputs: tuple[Node, ...]
    steps: tuple[Node, ...]  # op nodes to compute, in order
    inputs: tuple[Node, ...]  # symbols read
    absorbed: frozenset[Node]  # nodes folded into their single user's statement
    last_use: dict[Node, int]  # node -> index of the last step reading it


def negated(node: Node) -> Node | None:
    """``t`` if node is ``-1*t`` (a product of -1 and one factor), else None."""
    if node.op == "mul" and len(node.args) == 2 and node.args[0].op == "const" and node.args[0].value == -1:
        return node.args[1]
    return None


def reciprocal_of(node: Node) -> Node | None:
    """``t`` if node is ``t**-1``, else None."""
    if node.op == "pow" and node.args[1].op == "const" and node.args[1].value == -1:
        return node.args[0]
    return None


def effective_args(node: Node, absorbed: frozenset[Node] | set[Node]) -> list[Node]:
    """The values a statement for ``node`` reads, looking through absorbed operands."""
    out = []
    for a in node.args:
        if a in absorbed:
            out.append(a.args[1] if a.op == "mul" else a.args[0])
        else:
            out.append(a)
    return out


def schedule(outputs: list[Node] | tuple[Node, ...]) -> Schedule:
    """The statements computing ``outputs``, each shared node once."""
    order = toposort(outputs)
    users: dict[Node, int] = {}
    for node in order:
        for a in node.args:
            users[a] = users.get(a, 0) + 1
    output_set = set(outputs)
    absorbed: set[Node] = set()
    for node in order:
        if node.op not in ("add", "mul"):
            continue
        probe = negated if node.op == "add" else reciprocal_of
        for a in node.args:
            if users.get(a) == 1 and a not in output_set and probe(a) is not None:
                absorbed.add(a)
    frozen = frozenset(absorbed)
    needed: set[Node] = set(outputs)
    for node in reversed(order):
        if node in needed:
            needed.update(effective_args(node, frozen))
    steps = tuple(n for n in order if n in needed and n.op not in ("const", "sym"))
    inputs = tuple(n for n in order if n in needed and n.op == "sym")
    last_use: dict[Node, int] = {}
    for i, node in enumerate(steps):
        for a in effective_args(node, frozen):
            last_use[a] = i
    return Schedule(tuple(outputs), steps, inputs, frozen, last_use)


def operation_count(outputs: list[Node]) -> int:
    """Arithmetic operations per point after sharing; an n-ary sum or product counts n - 1."""
    return sum(max(1, len(n.args) - 1) if n.op in ("add", "mul") else 1 for n in schedule(outputs).steps)
