"""Linearize a set of output nodes into the statements that compute them.

The schedule is shared by every backend: it decides which nodes are computed
(each once, in topological order), which operands a parent absorbs into its
own statement (a single-use ``-t`` inside a sum becomes a subtraction, a
single-use ``1/t`` inside a product a division), and where each value is used
for the last time (so the numpy backend can reuse its buffers).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import chain

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


def schedule(outputs: list[Node] | tuple[Node, ...], order: list[Node] | None = None) -> Schedule:
    """The statements computing ``outputs``, each shared node once.

    Plain loops over the topological order (this runs once per node of graphs
    of 10^6 nodes): count the users of every node, find the single-use
    negations and reciprocals a sum or product absorbs, and record where each
    value is read last (through absorbed operands).  Every node but the absorbed
    ones is computed: an absorbed node has one user, which reads its operand
    instead, and what it alone reaches is the constant -1.

    ``order``: a topological order of the graph under ``outputs`` already made (a
    slot table's, :attr:`symgrad.codegen.kernel.SlotTable.order`: the same nodes
    in the same order, plus constant roots, which no step reads), else one is made.
    """
    if order is None:
        order = toposort(outputs)
    users = Counter(chain.from_iterable(node.args for node in order))
    output_set = set(outputs)
    absorbed: set[Node] = set()
    for node in reversed(order):  # users before operands: an absorbed node absorbs nothing itself
        op = node.op
        if op == "add":
            if node in absorbed:
                continue
            found = [
                a
                for a in node.args
                if a.op == "mul" and users[a] == 1 and negated(a) is not None and a not in output_set
            ]
            absorbed.update(_leaving_one(found, node))
        elif op == "mul":
            if node in absorbed:
                continue  # its user reads its operand directly, so that operand must be computed
            found = [
                a
                for a in node.args
                if a.op == "pow" and users[a] == 1 and reciprocal_of(a) is not None and a not in output_set
            ]
            absorbed.update(_leaving_one(found, node))
    frozen = frozenset(absorbed)
    steps: list[Node] = []
    inputs: list[Node] = []
    last_use: dict[Node, int] = {}
    for node in order:
        op = node.op
        if op == "sym":
            inputs.append(node)
        elif op != "const" and node not in frozen:
            i = len(steps)
            steps.append(node)
            for a in node.args:
                if a in frozen:
                    a = a.args[1] if a.op == "mul" else a.args[0]
                last_use[a] = i
    return Schedule(tuple(outputs), tuple(steps), tuple(inputs), frozen, last_use)


def _leaving_one(found: list[Node], node: Node) -> list[Node]:
    """The operands of ``node`` to absorb: all ``found``, unless that is every operand, then all but the first.

    A statement starts from an operand it reads as it is: ``-x - y`` computes ``-x``
    (``(-1.0)*x``, as a negation prints) and subtracts ``y``, so its value is numpy's
    ``-0.0`` at x = y = +0.0, where starting from the literal ``0.0 - x`` gives ``+0.0``;
    likewise ``1/(x*y)`` starts from ``1/x``.
    """
    return found[1:] if len(found) == len(node.args) else found


def operation_count(outputs: list[Node]) -> int:
    """Arithmetic operations per point after sharing; an n-ary sum or product counts n - 1."""
    return sum(max(1, len(n.args) - 1) if n.op in ("add", "mul") else 1 for n in schedule(outputs).steps)


def buffer_plan(sched: Schedule, outputs) -> tuple[list[int | None], int]:
    """The temporary each step writes (None: the step writes its own output), and how many there are.

    One allocation shared by the numpy printer (buffers) and the instruction tape
    (registers): a step's value goes to a free temporary, and a temporary is free
    again after the step that reads its value for the last time.
    """
    dying: dict[int, list[Node]] = {}  # step -> the values it reads for the last time
    for node, i in sched.last_use.items():
        dying.setdefault(i, []).append(node)
    plan: list[int | None] = []
    holder: dict[Node, int] = {}
    free: list[int] = []
    count = 0
    for i, node in enumerate(sched.steps):
        if node in outputs:
            plan.append(None)
        else:
            if free:
                temp = free.pop()
            else:
                temp, count = count, count + 1
            plan.append(temp)
            holder[node] = temp
        for arg in dying.get(i, ()):
            temp = holder.pop(arg, None)
            if temp is not None:
                free.append(temp)
    return plan, count
