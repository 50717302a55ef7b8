"""From input symbols and output slots to generated source, per backend.

Output *slots* are the flat list of scalar outputs (every entry of every
result array).  Slots holding the same node (the two halves of a symmetric
Hessian) are computed once and copied; slots holding a constant (the zeros of
a sparse Hessian) are filled once, outside the loop over the batch.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._version import __version__
from ..errors import TraceError
from ..ir.node import Node, float_value, toposort
from .printer import PYTHON, expression_statements, numpy_statements, value_text
from .render import render
from .schedule import Schedule, schedule
from .tape import Tape, build_tape

CHUNK = 8192  # points per pass: ~64 KiB per float64 temporary, so the working set stays in cache
WORKING_SET = 1 << 20  # at most this many temporary elements in all, however many buffers a graph needs
# Statements per generated function.  CPython compiles one huge function far more slowly
# than many small ones (and a 10^5-statement body takes minutes), so longer bodies are cut
# into parts of at most this many statements that the kernel calls in order.
PART_STATEMENTS = 2000
# Steps past which the numpy backend's array path runs an instruction tape instead of printed
# source: printing and compiling cost ~40 µs per statement, building a tape ~3 µs, and calling
# either costs the same within ~5% (one numpy call per statement per chunk; measured from 56 to
# 10^5 steps).  Below it, a printed kernel calls a few µs faster and compiles in milliseconds.
TAPE_STATEMENTS = 200


def chunk_size(n_buffers: int) -> int:
    """Points per pass: CHUNK, smaller when many temporaries are alive at once."""
    chunk = CHUNK
    while chunk > 256 and chunk * n_buffers > WORKING_SET:
        chunk //= 2
    return chunk


@dataclass(frozen=True)
class Kernel:
    """Generated code for one compiled object, and the names to call.

    The numpy module and the scalar path are kept as *parts*, each compiled and
    run as its own code object (CPython's ``compile()`` needs ~200 bytes of memory
    per source byte, so one 10^5-line module would need gigabytes at once).  Past
    TAPE_STATEMENTS steps the numpy kernel is a :class:`~symgrad.codegen.tape.Tape`
    instead, and so is the scalar path: nothing is printed or compiled unless
    ``source`` is asked for (or the scalar path tiers up, see
    :class:`symgrad.backends.tape.TapeScalar`).
    """

    numpy_name: str
    scalar_name: str
    graph_hash: str
    steps: int
    unique: tuple[Node, ...]  # the distinct computed output nodes, in kernel order
    numpy_parts: tuple[str, ...]  # the numpy module (empty when the kernel runs on a tape)
    scalar_parts: tuple[str, ...] | None  # the scalar path's module; None when there is no scalar path
    tape: Tape | None = None
    dtype: str = "float64"
    listing: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    """A taped kernel's equivalent numpy source, printed on demand."""

    @property
    def numpy_source(self) -> str:
        """The numpy kernel's source (for a taped kernel: the statements its tape executes, printed now)."""
        if self.tape is not None and self.listing is not None:
            return self.listing()
        return "".join(self.numpy_parts)

    @property
    def scalar_source(self) -> str | None:
        return None if self.scalar_parts is None else "".join(self.scalar_parts)

    @property
    def source(self) -> str:
        """The fused numpy kernel, then the scalar fast path when there is one."""
        scalar = self.scalar_source
        return self.numpy_source if scalar is None else self.numpy_source + "\n\n" + scalar


class SlotTable:
    """The output slots numbered by their distinct nodes: the one pass over every slot a build makes.

    ``nodes`` holds each distinct node once, in first-seen order, and
    ``inverse[s]`` the index in ``nodes`` of slot ``s``'s node.  A dense Hessian
    of 3,000 variables has 9*10^6 slots and ~9,000 distinct nodes: the slots are
    walked once here (``dict.fromkeys`` numbers the distinct nodes, one
    ``np.fromiter`` maps every slot), and everything downstream (the kernel's
    outputs, the graph hash, the slot layout, lowering) works on ``nodes`` and
    numpy index arrays.  Every code generator takes a table or a list of slots
    (:func:`slot_table`).
    """

    def __init__(self, nodes: list[Node], inverse: np.ndarray, slots: list[Node] | None = None) -> None:
        self.nodes = nodes
        self.inverse = inverse
        self._slots = slots
        self._index: dict[Node, int] | None = None

    @classmethod
    def of(cls, slots: Sequence[Node]) -> SlotTable:
        """The table of ``slots``: one ``dict.fromkeys`` and one ``np.fromiter`` over them, nothing else per slot."""
        slots = slots if type(slots) is list else list(slots)
        index = dict.fromkeys(slots)
        nodes = list(index)
        for k, node in enumerate(nodes):
            index[node] = k
        table = cls(nodes, np.fromiter(map(index.__getitem__, slots), dtype=np.intp, count=len(slots)), slots)
        table._index = index
        return table

    def __len__(self) -> int:
        return len(self.inverse)

    @property
    def slots(self) -> list[Node]:
        """Every slot's node, in slot order (gathered from ``nodes`` on first use when the table was remapped)."""
        if self._slots is None:
            self._slots = _object_array(self.nodes)[self.inverse].tolist()
        return self._slots

    @property
    def index(self) -> dict[Node, int]:
        """Each distinct node's position in ``nodes``."""
        if self._index is None:
            self._index = {node: k for k, node in enumerate(self.nodes)}
        return self._index

    @functools.cached_property
    def order(self) -> list[Node]:
        """Every node under the slots, each after its operands (:func:`~symgrad.ir.node.toposort` of ``nodes``).

        Made once and shared by lowering (which looks for custom functions) and the
        schedule: the order of the computed nodes' graph, with the constant slots'
        nodes placed where they are first met.
        """
        return toposort(self.nodes)

    @functools.cached_property
    def schedule(self) -> Schedule:
        """The schedule of the computed nodes, made once for every generator that asks (the C backend's
        threshold decision and its kernel, a kernel and its listing)."""
        return schedule(self.computed, self.order)

    def drop_walks(self) -> None:
        """Forget :attr:`order` and :attr:`schedule` (each holds every node of the graph) once code is generated."""
        self.__dict__.pop("order", None)
        self.__dict__.pop("schedule", None)

    @functools.cached_property
    def is_const(self) -> np.ndarray:
        """Per distinct node: whether it is a constant (its slots are filled, not computed)."""
        return np.fromiter((n.op == "const" for n in self.nodes), dtype=bool, count=len(self.nodes))

    @functools.cached_property
    def values(self) -> np.ndarray:
        """Per distinct node: a constant's value as a float (0.0 for a computed node), what fills its slots."""
        return np.array([float_value(n.value) if n.op == "const" else 0.0 for n in self.nodes], dtype=float)

    @functools.cached_property
    def computed(self) -> list[Node]:
        """The distinct non-constant nodes, in first-seen order: what a kernel computes."""
        return [n for n in self.nodes if n.op != "const"]

    @functools.cached_property
    def computed_slots(self) -> np.ndarray:
        """The slots holding a non-constant node, in slot order."""
        return np.flatnonzero(~self.is_const[self.inverse])

    @functools.cached_property
    def digest(self) -> bytes:
        """A digest of which node each slot holds: the distinct nodes' keys, then each slot's index among them.

        Stable across processes and platforms: keys and indices are hashed as
        little-endian unsigned integers, the indices in the fewest bytes that
        hold ``len(nodes)`` (a dense Hessian's 9*10^6 slots: 18 MB to hash).
        """
        m = len(self.nodes)
        width = next(w for w in (1, 2, 4, 8) if m <= 1 << (8 * w))
        h = hashlib.sha256(b"symgrad slot table\0")
        h.update(m.to_bytes(8, "little"))
        h.update(_keys(self.nodes))
        h.update(self.inverse.astype(f"<u{width}", copy=False))
        return h.digest()

    def replaced(self, nodes: list[Node]) -> SlotTable:
        """The table with ``nodes[k]`` for each distinct node ``self.nodes[k]`` (lowering), numbered afresh.

        Nodes that became one are merged, so the result is the table of the new
        slots (what :meth:`of` would build from them), without a pass in Python
        over the slots: one numpy gather remaps them, when anything merged.
        """
        if len(nodes) != len(self.nodes):
            raise ValueError(f"replaced() takes one node per distinct node ({len(self.nodes)}), got {len(nodes)}")
        if all(map(operator.is_, nodes, self.nodes)):
            return self
        index = dict.fromkeys(nodes)
        if len(index) == len(nodes):  # nothing merged: the same numbering
            return SlotTable(list(nodes), self.inverse)
        fresh = list(index)
        for k, node in enumerate(fresh):
            index[node] = k
        remap = np.fromiter(map(index.__getitem__, nodes), dtype=np.intp, count=len(nodes))
        table = SlotTable(fresh, remap[self.inverse])
        table._index = index
        return table


def slot_table(slots: SlotTable | Sequence[Node]) -> SlotTable:
    """``slots`` as a :class:`SlotTable` (built now from a list of slot nodes, as given when already one)."""
    return slots if isinstance(slots, SlotTable) else SlotTable.of(slots)


def _object_array(nodes: Sequence[Node]) -> np.ndarray:
    arr = np.empty(len(nodes), dtype=object)
    for k, node in enumerate(nodes):  # item by item: numpy must not look into the nodes for array protocols
        arr[k] = node
    return arr


_KEY = operator.attrgetter("key")


def _keys(nodes: Sequence[Node]) -> bytes:
    return np.fromiter(map(_KEY, nodes), dtype="<u8", count=len(nodes)).tobytes()


def graph_hash(inputs: list[Node], slots: SlotTable | Sequence[Node]) -> str:
    """A digest of the structure computed: the inputs, and which node each slot holds (stable across processes).

    Computed from the slot table (:attr:`SlotTable.digest`, once per table): the
    distinct nodes' keys and the slots' indices among them, so a dense Hessian's
    9*10^6 slots cost one hash of their index array.
    """
    h = hashlib.sha256(_keys(inputs))
    h.update(slot_table(slots).digest)
    return h.hexdigest()[:16]


def check_inputs(sched: Schedule, inputs: list[Node]) -> None:
    declared = set(inputs)
    missing = [s.name for s in sched.inputs if s not in declared]
    if missing:
        raise TraceError(
            f"the outputs depend on {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not among the declared inputs"
        )


def _numpy_parts(
    sched: Schedule, inputs: list[Node], unique: list[Node], dtype: str, name: str, gh: str
) -> tuple[str, ...]:
    """The fused numpy kernel; past PART_STATEMENTS steps its body is cut into functions, one part each.

    Every value lives in an array (an input view, an output view or a buffer
    written with ``out=``), so a part needs no results from the one before: a
    cut kernel spells its values as items of the chunk's lists ``X``, ``O`` and
    ``B`` (printed so from the start, no unpacking lines, which would double
    what CPython compiles) and may be cut after any line.
    """
    cut = len(sched.steps) > PART_STATEMENTS
    spell_x, spell_o, spell_b = ("X[{}]", "O[{}]", "B[{}]") if cut else ("x{}", "o{}", "b{}")
    input_names = {s: spell_x.format(i) for i, s in enumerate(inputs)}
    copies = [f"{spell_o.format(k)}[...] = {input_names[node]}" for k, node in enumerate(unique) if node.op == "sym"]
    output_names = {node: spell_o.format(k) for k, node in enumerate(unique) if node.op != "sym"}
    body, n_buffers = numpy_statements(sched, input_names, output_names, spell_b.format)
    body = copies + body
    chunk = chunk_size(n_buffers)
    context = {
        "version": __version__,
        "graph_hash": gh,
        "name": name,
        "chunk": chunk,
        "dtype": dtype,
        "n_inputs": len(inputs),
        "n_outputs": len(unique),
        "n_buffers": n_buffers,
        "legend": legend(inputs, unique, "o"),
    }
    if cut:
        starts = range(0, len(body), max(PART_STATEMENTS, 1))
        names = [f"{name}_part{k}" for k in range(len(starts))]
        parts = [render("numpy/part.py.j2", name=n, body=body[i : i + PART_STATEMENTS]) for n, i in zip(names, starts)]
        return (render("numpy/kernel.py.j2", parts=names, **context), *parts)
    used = set(sched.inputs)
    prologue = [f"x{i} = X{i} if X{i}.ndim == 0 else X{i}[start:stop]" for i, s in enumerate(inputs) if s in used]
    prologue += [f"o{k} = O{k}[start:stop]" for k in range(len(unique))]
    source = render(
        "numpy/kernel.py.j2",
        parts=[],
        input_unpack=_unpack("X", len(inputs)),
        output_unpack=_unpack("O", len(unique)),
        setup=[f"b{i} = np.empty(min(n, {chunk}), dtype=np.{dtype})" for i in range(n_buffers)],
        prologue=prologue,
        body=body,
        **context,
    )
    return (source,)


LEGEND_LINES = 12  # the legend names the first outputs; a huge Hessian is not listed whole


def legend(inputs: list[Node], outputs: list[Node], out_prefix: str) -> list[str]:
    """Comment lines saying which generated name holds which symbol and formula."""
    lines = ["inputs: " + ", ".join(f"x{i} = {s.name}" for i, s in enumerate(inputs))]
    for k, node in enumerate(outputs[:LEGEND_LINES]):
        # printed as a tree, a shared graph can be far larger: print small ones only, and
        # count at most LEGEND_NODES + 1 nodes, so the legend of a huge graph costs nothing
        size = _bounded_size(node, LEGEND_NODES)
        text = str(node) if size <= LEGEND_NODES else f"(a formula of more than {LEGEND_NODES} nodes)"
        text = text.replace("\n", "; ")  # a let-bound text on one comment line
        lines.append(f"{out_prefix}{k} = {text if len(text) <= 100 else text[:97] + '...'}")
    if len(outputs) > LEGEND_LINES:
        lines.append(f"... and {len(outputs) - LEGEND_LINES} more outputs")
    return lines


LEGEND_NODES = 60


def _bounded_size(root: Node, limit: int) -> int:
    """The number of distinct nodes under ``root``, counting no further than ``limit + 1``."""
    seen = {id(root)}
    stack = [root]
    while stack and len(seen) <= limit:
        for a in stack.pop().args:
            if id(a) not in seen:
                seen.add(id(a))
                stack.append(a)
    return len(seen)


def _unpack(prefix: str, count: int) -> str:
    if count == 0:
        return "_"
    return ", ".join(f"{prefix}{i}" for i in range(count)) + ("," if count == 1 else "")


def _scalar_parts(
    sched: Schedule, inputs: list[Node], results: str, name: str, gh: str, slots: list[Node]
) -> tuple[str, ...]:
    """The straight-line scalar path; past PART_STATEMENTS statements cut into functions, one part each."""
    input_names = {s: f"x{i}" for i, s in enumerate(inputs)}
    statements, names = expression_statements(sched, input_names, PYTHON)
    texts = [value_text(n, names, PYTHON) for n in slots]
    result_text = results.format(*texts)
    # Python's float arithmetic overflows to inf (and exp, via _exp) silently, where numpy
    # warns or raises per np.errstate: a non-finite result sends the call to the numpy
    # kernel, so the caller gets numpy's values *and* numpy's warnings policy.
    computed = list(dict.fromkeys(t for t, n in zip(texts, slots) if n.op != "const"))
    check = f"sum(({''.join(t + ', ' for t in computed)}))" if computed else ""
    parts: list[dict] = []
    body = [s.text for s in statements]
    if len(statements) > PART_STATEMENTS:
        result_reads = {names[n] for n in slots if n.op != "const"}
        parts, body = _cut_statements(statements, result_reads, name)
    main = render(
        "numpy/scalar.py.j2",
        version=__version__,
        graph_hash=gh,
        name=name,
        params=", ".join(f"x{i}" for i in range(len(inputs))),
        parts=len(parts),
        body=body,
        legend=legend(inputs, slots, "result "),
        results=result_text,
        check=check,
    )
    return (main, *(render("numpy/scalar_part.py.j2", **part) for part in parts))


def _cut_statements(statements: list, result_reads: set[str], name: str) -> tuple[list[dict], list[str]]:
    """SSA statements cut into functions of at most PART_STATEMENTS lines, and the calls chaining them.

    Each part takes the values it reads that earlier parts (or the arguments)
    defined, and returns those that later parts or the results read: the
    temporaries live across a cut, found by one backward pass over the parts
    from the names each statement records (nothing is parsed back from text).
    """
    chunks = [statements[i : i + PART_STATEMENTS] for i in range(0, len(statements), PART_STATEMENTS)]
    ins, outs = live_across(chunks, result_reads)
    parts, calls = [], []
    for k, chunk in enumerate(chunks):
        part = f"{name}_part{k}"
        returns = "(" + "".join(f"{v}, " for v in outs[k]) + ")"
        parts.append({"name": part, "params": ", ".join(ins[k]), "body": [s.text for s in chunk], "returns": returns})
        call = f"{part}({', '.join(ins[k])})"
        calls.append(f"{''.join(f'{v}, ' for v in outs[k])}= {call}" if outs[k] else call)
    return parts, calls


def live_across(chunks: list[list], result_reads: set[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Per chunk of statements: the names it reads from before it, and those it defines that are read after it.

    Linear in the statements: each name's defining chunk and last reading chunk,
    from the names each :class:`~symgrad.codegen.printer.Statement` records;
    ``result_reads`` are read after the last chunk.
    """
    defined_in: dict[str, int] = {}
    for k, chunk in enumerate(chunks):
        for s in chunk:
            defined_in[s.defines] = k
    last_read: dict[str, int] = {}
    ins: list[list[str]] = []
    for k, chunk in enumerate(chunks):
        outside = {r for s in chunk for r in s.reads if defined_in.get(r, -1) != k}
        for r in outside:
            last_read[r] = k
        ins.append(sorted(outside, key=_name_order))
    after = len(chunks)
    for r in result_reads:
        last_read[r] = after
    outs: list[list[str]] = [[] for _ in chunks]
    for name, k in defined_in.items():
        if last_read.get(name, -1) > k:
            outs[k].append(name)
    return ins, [sorted(o, key=_name_order) for o in outs]


def _name_order(v: str) -> tuple:
    return (v[0], *map(int, v[1:].split("_")))


def unique_outputs(slots: SlotTable | Sequence[Node]) -> list[Node]:
    """The distinct non-constant nodes among the slots, in first-seen order (:attr:`SlotTable.computed`)."""
    return list(slot_table(slots).computed)


def generate(inputs: list[Node], slots: SlotTable | Sequence[Node], dtype: str, results_format: str | None) -> Kernel:
    """Source for the numpy kernel and (if ``results_format``) the scalar fast path, or their tape.

    The numpy kernel computes each distinct non-constant output node once (the
    caller fills constant slots and copies repeated ones).  ``results_format`` is
    a Python expression with ``{0}``, ``{1}``... for the slots that builds the
    scalar path's structured result (a float, a tuple, an array).  ``slots``: the
    output slots' :class:`SlotTable`, or their nodes.
    """
    table = slot_table(slots)
    unique = list(table.computed)
    sched = table.schedule
    check_inputs(sched, inputs)
    gh = graph_hash(inputs, table)
    numpy_name, scalar_name = f"kernel_{gh}", f"scalar_{gh}"
    if len(sched.steps) > TAPE_STATEMENTS:
        tape = build_tape(sched, inputs, unique)

        def listing() -> str:
            source = "".join(_numpy_parts(table.schedule, inputs, unique, dtype, numpy_name, gh))
            return render("numpy/tape_listing.py.j2", **_tape_facts(tape, len(sched.steps))) + source

        return tape_kernel(tape, table, dtype, results_format, gh, listing, steps=len(sched.steps))
    scalar = None
    if results_format is not None:  # the scalar path spells every slot: there are few of them
        scalar = _scalar_parts(sched, inputs, results_format, scalar_name, gh, table.slots)
    return Kernel(
        numpy_name=numpy_name,
        scalar_name=scalar_name,
        graph_hash=gh,
        steps=len(sched.steps),
        unique=tuple(unique),
        numpy_parts=_numpy_parts(sched, inputs, unique, dtype, numpy_name, gh),
        scalar_parts=scalar,
        dtype=dtype,
    )


def tape_kernel(
    tape: Tape, table: SlotTable, dtype: str, results_format: str | None, gh: str, listing, steps: int | None = None
) -> Kernel:
    """The numpy kernel running ``tape`` (a graph's, or :mod:`symgrad.codegen.adjoint`'s): its outputs are the
    table's distinct computed nodes, in order; ``listing`` prints its source when asked for; ``steps``: the
    statements it stands for (default: its instructions)."""
    unique = list(table.computed)
    scalar_name = f"scalar_{gh}"
    scalar = None
    if results_format is not None:
        scalar = (_tape_results(tape, results_format, scalar_name, gh, table.slots, unique),)
    return Kernel(
        numpy_name=f"kernel_{gh}",
        scalar_name=scalar_name,
        graph_hash=gh,
        steps=len(tape) if steps is None else steps,
        unique=tuple(unique),
        numpy_parts=(),
        scalar_parts=scalar,
        tape=tape,
        dtype=dtype,
        listing=listing,
    )


def _tape_facts(tape: Tape, steps: int) -> dict:
    return {
        "steps": steps,
        "threshold": TAPE_STATEMENTS,
        "instructions": len(tape),
        "registers": tape.n_registers,
    }


def _tape_results(tape: Tape, results: str, name: str, gh: str, slots: list[Node], unique: list[Node]) -> str:
    """The scalar path of a taped kernel: the structured result built from the tape's outputs ``_v``."""
    index = {node: k for k, node in enumerate(unique)}
    texts = [value_text(n, {}, PYTHON) if n.op == "const" else f"_v[{index[n]}]" for n in slots]
    return render(
        "numpy/tape_scalar.py.j2",
        version=__version__,
        graph_hash=gh,
        name=name,
        instructions=len(tape),
        n_outputs=len(unique),
        results=results.format(*texts),
    )
