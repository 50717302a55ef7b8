"""From input symbols and output slots to generated source, per backend.

Output *slots* are the flat list of scalar outputs (every entry of every
result array).  Slots holding the same node (the two halves of a symmetric
Hessian) are computed once and copied; slots holding a constant (the zeros of
a sparse Hessian) are filled once, outside the loop over the batch.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._version import __version__
from ..errors import TraceError
from ..ir.node import Node
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
# Steps past which the scalar path (plain Python floats) runs on the tape too.  Below it the
# scalar path is printed straight-line float code (~30 ns a statement, 5-10x faster than the
# tape's dispatch), compiled on the first call with floats; past it compiling would dominate.
SCALAR_TAPE_STATEMENTS = 20_000


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
    instead: nothing is printed or compiled unless ``source`` is asked for (and past
    SCALAR_TAPE_STATEMENTS the scalar path runs on the tape as well).
    """

    numpy_name: str
    scalar_name: str
    graph_hash: str
    steps: int
    unique: tuple[Node, ...]  # the distinct computed output nodes, in kernel order
    numpy_parts: tuple[str, ...]  # the numpy module (empty when the kernel runs on a tape)
    scalar_parts: tuple[str, ...] | None  # the scalar path's module; None when there is no scalar path
    tape: Tape | None = None
    scalar_on_tape: bool = False  # the scalar path sends its point through the tape (past SCALAR_TAPE_STATEMENTS)
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


def graph_hash(inputs: list[Node], slots: list[Node]) -> str:
    """A digest of the structure computed (stable across processes).

    The same digest as hashing every slot's key, with the keys read once per
    distinct node and gathered by numpy (a dense Hessian repeats ZERO 9*10^6 times).
    """
    index = dict.fromkeys(slots)
    for k, node in enumerate(index):
        index[node] = k
    at = np.fromiter(map(index.__getitem__, slots), dtype=np.intp, count=len(slots))
    distinct = np.fromiter(map(_KEY, index), dtype=np.uint64, count=len(index))
    keys = np.concatenate([np.fromiter(map(_KEY, inputs), dtype=np.uint64, count=len(inputs)), distinct[at]])
    return hashlib.sha256(keys.tobytes()).hexdigest()[:16]


_KEY = operator.attrgetter("key")


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
    result_text = results.format(*texts) if slots else ""
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


def unique_outputs(slots: list[Node]) -> list[Node]:
    """The distinct non-constant nodes among the slots, in first-seen order.

    Deduplicated first, in C (a dense Hessian of 3,000 variables has 9*10^6 slots
    and ~6,000 distinct nodes), then tested per distinct node: the same list.
    """
    return [n for n in dict.fromkeys(slots) if n.op != "const"]


def generate(inputs: list[Node], slots: list[Node], dtype: str, results_format: str | None) -> Kernel:
    """Source for the numpy kernel and (if ``results_format``) the scalar fast path, or their tape.

    The numpy kernel computes each distinct non-constant output node once (the
    caller fills constant slots and copies repeated ones).  ``results_format`` is
    a Python expression with ``{0}``, ``{1}``... for the slots that builds the
    scalar path's structured result (a float, a tuple, an array).
    """
    unique = unique_outputs(slots)
    sched = schedule(unique)
    check_inputs(sched, inputs)
    gh = graph_hash(inputs, slots)
    numpy_name, scalar_name = f"kernel_{gh}", f"scalar_{gh}"
    common = {"numpy_name": numpy_name, "scalar_name": scalar_name, "graph_hash": gh, "dtype": dtype}
    common.update(steps=len(sched.steps), unique=tuple(unique))
    if len(sched.steps) > TAPE_STATEMENTS:
        tape = build_tape(sched, inputs, unique)
        scalar = None
        scalar_on_tape = len(sched.steps) > SCALAR_TAPE_STATEMENTS
        if results_format is not None and scalar_on_tape:
            scalar = (_tape_results(tape, results_format, scalar_name, gh, slots, unique),)
        elif results_format is not None:
            scalar = _scalar_parts(sched, inputs, results_format, scalar_name, gh, slots)

        def listing() -> str:
            source = "".join(_numpy_parts(schedule(unique), inputs, unique, dtype, numpy_name, gh))
            return render("numpy/tape_listing.py.j2", **_tape_facts(tape, len(sched.steps))) + source

        return Kernel(
            numpy_parts=(), scalar_parts=scalar, tape=tape, scalar_on_tape=scalar_on_tape, listing=listing, **common
        )
    scalar = None
    if results_format is not None:
        scalar = _scalar_parts(sched, inputs, results_format, scalar_name, gh, slots)
    return Kernel(numpy_parts=_numpy_parts(sched, inputs, unique, dtype, numpy_name, gh), scalar_parts=scalar, **common)


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
        results=results.format(*texts) if slots else "",
    )
