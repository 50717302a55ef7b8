"""Reverse mode on the instruction tape: the gradient kernel of a huge graph without its symbolic gradient.

``sg.grad`` of a graph of 10^4-10^6 nodes spends most of its build on the
symbolic reverse sweep: every adjoint is a new node, canonicalized and
hash-consed, then scheduled and lowered to a tape again.  On the 10^4-step
chain of ``benchmarks/big.py`` (52,871 forward nodes) that is 1.2 s of Python
(CasADi's C++ ``gradient`` and ``Function``: 0.05 s), where the tape below takes
0.3 s.  Past :data:`ADJOINT_STEPS` forward steps the kernel is built here instead, as
JAX and CasADi build theirs: the forward graph's tape, keeping every value,
then the adjoint instructions of its nodes in reverse order.  The symbolic
gradient is built only when something asks for it (``.outputs``, printing,
``verify``, composing), see :class:`symgrad.api.taped.TapedGradient`.

Every op's partials are the op table's rule (:attr:`symgrad.ir.ops.Op.partials`),
applied once per op and constant operands to placeholder symbols and lowered by
:func:`~symgrad.codegen.tape.build_tape` to a few instructions (a
:class:`_Template`); a node's backward step is its template on the node's
slots, then ``adjoint(operand) += adjoint(node) * partial``.  Sums (partial 1)
and products (the product of the other factors) are the tape's own.

The sweep declines (None: the symbolic path builds the kernel) where the two
would not agree: a custom function (its rule is the user's, given on the
symbolic graph) and an op whose partials select (``where``, and ``abs``,
``relu``, ``sinc``, whose rules are selects).  The symbolic sweep moves an adjoint inside a
select of constants, so the branch not taken never multiplies its 0 into an
infinite partial; instruction by instruction that 0*inf would be nan (JAX's
``where`` gradient nan).

Elsewhere the two agree to rounding, except at the singular points where the
symbolic sweep's products cancel before they are evaluated: ``x*log(x)`` at 0
(``log(x) + 1``: -inf there, the tape's ``log(0) + 0*inf``: nan), ``cbrt(x)**3``
at 0, ``arctan2(x, x)`` at 0.  There the tape gives what JAX and CasADi give,
nan.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UnsupportedOpError
from ..ir import builders as B
from ..ir.custom import CUSTOM
from ..ir.node import Node, symbol, toposort
from ..ir.ops import OPS
from .render import render
from .schedule import schedule
from .tape import _REGISTER, CODE, OPCODES, Tape, _Builder, _finish, _Slots, build_tape, straight_line_source

ADJOINT_STEPS = 5_000
"""Forward steps past which ``sg.grad``'s kernel is this sweep's tape (numpy and C backends).  Past it the symbolic
gradient would run on a tape too (more than ``C_TAPE_STATEMENTS`` statements), and its build costs ~15x this one's."""

_DECLINE = frozenset({"where", CUSTOM})  # ops (in a graph or in a template's partials) the sweep leaves alone
_MULTIPLY, _ADD, _COPY = CODE["multiply"], CODE["add"], CODE["copy"]


class _Template:
    """One op's backward instructions on placeholder slots, lowered once per (op, constant operands).

    Slots ``0 .. k-1`` are the node's variable operands, ``k`` its value, then
    the template's own (its partials and temporaries, constants) as numbered in
    ``fixed``; ``partials[i]`` is the slot holding operand i's partial, or None
    where it is zero.
    """

    __slots__ = ("fixed", "partials", "reads", "rows")

    def __init__(self, rows: list[tuple[int, ...]], fixed: list[int], partials: list[int | None], k: int) -> None:
        self.rows = rows
        self.fixed = fixed
        self.partials = partials
        # the node's own slots (operands 0 .. k-1, the value k) its instructions or partials read
        self.reads = sorted(
            {a for r in rows for a in r[1:4] if 0 <= a <= k} | {p for p in partials if p is not None and p <= k}
        )


class _Sweep:
    """The adjoint instructions, appended to the forward tape's builder (see :func:`gradient_tape`).

    Registers are reused as the printed kernels reuse their buffers: a forward
    value no backward step reads is free after its last forward use, any other
    after its node's backward step (its users' steps come before it); an
    adjoint is free once no node still to be stepped holds it.  Nodes with one
    contribution of partial 1 (operands of sums) share their user's adjoint
    slot, which is then never written in place.
    """

    def __init__(self, b: _Builder, slots: _Slots) -> None:
        self.b = b
        self.slots = slots
        self.registers = 0  # registers handed out so far
        self.free: list[int] = []
        self.scratch: list[int] = []  # template slots: dead once a node's step is done, shared by every node
        self.temp = self.take()  # a contribution before it is added
        self.adjoint: dict[Node, int] = {}
        self.holders: dict[int, int] = {}  # adjoint register -> nodes holding it that are still to be stepped
        self.templates: dict[tuple, _Template | None] = {}

    def take(self) -> int:
        if self.free:
            return self.free.pop()
        self.registers += 1
        return _REGISTER - (self.registers - 1)

    def release(self, adjoint: int) -> None:
        """One holder of an adjoint slot is done with it: a register nobody holds is free."""
        if adjoint <= _REGISTER:
            left = self.holders[adjoint] - 1
            if left:
                self.holders[adjoint] = left
            else:
                del self.holders[adjoint]
                self.free.append(adjoint)

    def scratch_slot(self, k: int) -> int:
        while len(self.scratch) <= k:
            self.registers += 1
            self.scratch.append(_REGISTER - (self.registers - 1))  # never on the free list
        return self.scratch[k]

    def contribute(self, target: Node, adjoint: int, partial: int | None) -> None:
        """``adjoint(target) += adjoint * partial`` (``partial`` None: 1)."""
        extend = self.b.rows.extend
        holders = self.holders
        held = self.adjoint.get(target)
        if held is None:
            if partial is None:
                self.adjoint[target] = adjoint  # the same values: share the slot
                if adjoint <= _REGISTER:
                    holders[adjoint] += 1
            else:
                own = self.adjoint[target] = self.take()
                holders[own] = 1
                extend((_MULTIPLY, adjoint, partial, -1, own))
            return
        if partial is not None:
            extend((_MULTIPLY, adjoint, partial, -1, self.temp))
            adjoint = self.temp
        if held <= _REGISTER and holders[held] == 1:
            extend((_ADD, held, adjoint, -1, held))  # target's alone: in place
        else:
            own = self.adjoint[target] = self.take()
            extend((_ADD, held, adjoint, -1, own))
            self.release(held)
            holders[own] = 1

    def template_of(self, node: Node) -> _Template | None:
        args = node.args
        key = (node.op, tuple(a if a.op == "const" else args.index(a) for a in args))  # repeats: one placeholder
        template = self.templates.get(key, False)
        if template is False:
            template = self.templates[key] = self._template(node)
        return template

    def reads(self, node: Node) -> list[Node] | None:
        """The forward values the backward step of ``node`` reads (None: the sweep declines its op).

        For a product of three or more factors, or an op of the table; sums read
        nothing and a binary product the other factor (:func:`gradient_tape` inline).
        """
        if node.op == "mul":
            return list(node.args)
        template = self.template_of(node)
        if template is None:
            return None
        own = [a for a in node.args if a.op != "const"]
        own.append(node)
        return [own[k] for k in template.reads]

    def backward(self, node: Node, adjoint: int, marked: set[Node]) -> None:
        """The backward step of ``node``: a product of three or more factors, or an op of the table.

        Its template exists: :meth:`reads` made it (or declined the graph) before the forward tape.
        """
        if node.op == "mul":
            self._product(node.args, adjoint, marked)
            return
        args = node.args
        slots = self.slots
        template = self.template_of(node)
        m = [slots[a] for a in args if a.op != "const"]
        m.append(slots[node])
        m += template.fixed
        m.append(-1)
        extend = self.b.rows.extend
        for code, a0, a1, a2, d in template.rows:
            extend((code, m[a0], m[a1], m[a2], m[d]))
        k = 0
        for a in args:
            if a.op == "const":
                continue
            p = template.partials[k]
            k += 1
            if p is not None and a in marked:
                self.contribute(a, adjoint, m[p])

    def _product(self, args: tuple[Node, ...], adjoint: int, marked: set[Node]) -> None:
        """A product's contributions: each marked factor's partial is the product of the others (3 or more)."""
        slots = self.slots
        n = len(args)
        extend = self.b.rows.extend
        # prefix[i] = a0*...*ai, suffix[i] = ai*...*a(n-1): in scratch slots 0 .. 2n-1
        prefix = [slots[args[0]]]
        for i in range(1, n - 1):
            out = self.scratch_slot(i)
            extend((_MULTIPLY, prefix[-1], slots[args[i]], -1, out))
            prefix.append(out)
        suffix = {n - 1: slots[args[n - 1]]}
        for i in range(n - 2, 0, -1):
            out = self.scratch_slot(n + i)
            extend((_MULTIPLY, slots[args[i]], suffix[i + 1], -1, out))
            suffix[i] = out
        for i, a in enumerate(args):
            if a not in marked:
                continue
            if i == 0:
                partial = suffix[1]
            elif i == n - 1:
                partial = prefix[n - 2]
            else:
                partial = self.scratch_slot(2 * n)
                extend((_MULTIPLY, prefix[i - 1], suffix[i + 1], -1, partial))
            self.contribute(a, adjoint, partial)

    def _template(self, node: Node) -> _Template | None:
        """Lower the op table's partials of ``node``'s op on placeholders (None: the sweep declines the op).

        An operand met twice is one placeholder with the sum of its partials (the
        later places get 0), as the symbolic sweep sums its contributions:
        ``arctan2(u, u)``'s cancel to 0 (not 0/0 at u = 0), ``maximum(u, u)``'s
        to 1 (not ``sign(inf - inf)``).
        """
        holes = [symbol(_HOLE, (node.args.index(a),)) for a in node.args if a.op != "const"]
        it = iter(holes)
        args = tuple(a if a.op == "const" else next(it) for a in node.args)
        value = symbol(_HOLE, (-1,))
        partials = list(OPS[node.op].partials(B, args, value))
        for i, a in enumerate(node.args):
            first = node.args.index(a)
            if first != i and a.op != "const":
                partials[first], partials[i] = B.add(partials[first], partials[i]), B.as_node(0)
        partials = [p for a, p in zip(node.args, partials) if a.op != "const"]
        inputs = [*holes, value]
        if any(n.op in _DECLINE for n in toposort(partials)):
            return None
        computed = list(dict.fromkeys(p for p in partials if p.op not in ("const", "sym")))
        try:
            mini = build_tape(schedule(computed), inputs, computed) if computed else None
        except UnsupportedOpError:
            return None
        first_own = len(inputs)
        fixed: list[int] = []
        rows: list[tuple[int, ...]] = []
        if mini is not None:
            n_out, constants = mini.n_outputs, mini.constants
            fixed += [self.scratch_slot(k) for k in range(n_out)]
            fixed += [self.b.const(c) for c in constants]
            fixed += [self.scratch_slot(n_out + k) for k in range(mini.n_registers)]
            rows = [tuple(r) for r in zip(mini.code.tolist(), *mini.args.T.tolist(), mini.dest.tolist())]
        index = {p: first_own + k for k, p in enumerate(computed)}
        index.update((h, k) for k, h in enumerate(inputs))
        slots: list[int | None] = []
        for p in partials:
            if p.op == "const":
                if p.value == 0:
                    slots.append(None)
                else:
                    slots.append(len(inputs) + len(fixed))
                    fixed.append(self.b.const(p.value))
            else:
                slots.append(index[p])
        return _Template(rows, fixed, slots, len(holes))


_HOLE = "\x00adjoint"  # the placeholders' name: no user symbol has it (names are identifiers or formula text)


def forward_steps(order: list[Node]) -> int:
    """The op nodes of a graph's topological order: the forward steps the sweep's tape computes."""
    return sum(1 for n in order if n.op != "sym" and n.op != "const")


def gradient_tape(
    root: Node, wrt: Sequence[Node], inputs: Sequence[Node], with_value: bool = False, order: list[Node] | None = None
) -> Tape | None:
    """The tape computing ``d root / d w`` for each ``w`` of ``wrt`` (after ``root`` itself with ``with_value``).

    Outputs are slots ``len(inputs) ..`` in that order; None where the sweep
    declines the graph (a custom function, a select: see the module doc).
    ``order``: ``toposort([root])`` if already made.
    """
    if order is None:
        order = toposort([root])
    declared, variables = set(inputs), set(wrt)
    marked: set[Node] = set()  # the nodes depending on a variable
    steps: list[Node] = []  # the op nodes, in order
    mark, disjoint, append = marked.add, marked.isdisjoint, steps.append
    for node in order:  # one pass per phase: these loops run once per node of graphs of 10^6
        op = node.op
        if op == "sym":
            if node not in declared:
                return None  # the symbolic path's code generation names the undeclared inputs
            if node in variables:
                mark(node)
        elif op != "const":
            if op in _DECLINE:
                return None
            append(node)
            if not disjoint(node.args):
                mark(node)
    b = _Builder()
    slots = _Slots(b, list(inputs))
    sweep = _Sweep(b, slots)
    # the forward values a backward step reads; every template is made here, so a declined op is
    # found before any instruction is emitted
    kept: set[Node] = {root} if with_value else set()
    keep = kept.add
    for node in steps:
        op = node.op
        if op == "add" or node not in marked:
            continue
        args = node.args
        if op == "mul" and len(args) == 2:  # each marked factor's partial is the other one
            if args[0] in marked:
                keep(args[1])
            if args[1] in marked:
                keep(args[0])
            continue
        found = sweep.reads(node)
        if found is None:
            return None
        kept.update(found)
    last = {a: node for node in steps for a in node.args}  # the last user of each value
    take, give = sweep.take, sweep.free.append
    step, extend = b.step, b.rows.extend
    none: frozenset[Node] = frozenset()
    try:
        for node in steps:
            out = take()  # the value's register is taken before its operands' are given back
            args = node.args
            op = node.op
            if len(args) == 2 and (op == "mul" or op == "add"):  # b.step's instruction for them, inline
                extend((_MULTIPLY if op == "mul" else _ADD, slots[args[0]], slots[args[1]], -1, out))
                slots[node] = out
            else:
                step(node, slots, none, out)
            for a in args:
                if last[a] is node and a not in kept and a.args:
                    give(slots[a])
                    last[a] = None  # an operand met twice is given back once
    except UnsupportedOpError:
        return None  # the symbolic path's code generation says which op, for which backend
    n_in = len(inputs)
    first = n_in + (1 if with_value else 0)
    if with_value:
        b.emit("copy", (slots[root],), n_in)
    if root in marked:
        adjoint = sweep.adjoint
        adjoint[root] = b.const(1.0)
        backward, release, contribute = sweep.backward, sweep.release, sweep.contribute
        for node in reversed(steps):
            held = adjoint.get(node)
            if held is None:
                continue  # not marked, or reached only through zero partials
            op, args = node.op, node.args
            if op == "add":  # every partial is 1
                for a in args:
                    if a in marked:
                        contribute(a, held, None)
            elif op == "mul" and len(args) == 2:  # each marked factor's partial is the other one
                if args[0] in marked:
                    contribute(args[0], held, slots[args[1]])
                if args[1] in marked:
                    contribute(args[1], held, slots[args[0]])
            else:
                backward(node, held, marked)
            release(held)
            if node in kept:  # (any other value was given back after its last forward use)
                give(slots[node])  # every backward step reading it is done: its users' came before
            elif node is root:
                give(slots[node])
    zero = b.const(0.0)
    for k, w in enumerate(wrt):
        b.emit("copy", (sweep.adjoint.get(w, zero),), first + k)
    return _finish(b, n_in, first - n_in + len(wrt), sweep.registers)


def listing(tape: Tape, runner: str) -> str:
    """A reverse-mode tape's source text: what it is, then its instructions as straight-line Python on floats."""
    header = render(
        "numpy/adjoint_listing.py.j2",
        threshold=ADJOINT_STEPS,
        instructions=len(tape),
        registers=tape.n_registers,
        runner=runner,
    )
    body = straight_line_source(tape, "gradient")
    if body is None:  # an opcode without a float spelling: name them
        names = [OPCODES[c] for c in tape.code.tolist()]
        body = "".join(f"# {n}{tuple(a)} -> {d}\n" for n, a, d in zip(names, tape.args.tolist(), tape.dest.tolist()))
    return header + body
