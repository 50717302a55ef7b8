"""C and CUDA source for one compiled object: the same printed lines in two frames.

The per-point body (load the inputs, one SSA statement per scheduled node, store
the outputs) is printed once by :func:`symgrad.codegen.printer.expression_statements`
with the C spellings; ``templates/c/kernel.c.j2`` wraps it in a loop over a range
of the batch that the compiler vectorises (``#pragma omp simd``: a block of
points per iteration, with vector math where the backend found it, see
:mod:`symgrad.backends.vecmath`), ``templates/cuda/kernel.cu.j2`` in a
grid-stride loop, one thread per point (the GPU backend).  Both read inputs
through a stride, so strided views and broadcast scalars need no copy.

Past C_PART_STATEMENTS statements the C frame is cut, so the compiler never sees
one huge function: the statements go into part functions of at most that many,
each running its own vectorised loop over a block of LANES points; a value that
lives across a cut is stored by the part defining it into a slot of a scratch
array (``V[slot * LANES + lane]``, slots reused once the value is dead) and
loaded by the parts reading it, all decided from the names each structured
:class:`~symgrad.codegen.printer.Statement` defines and reads.  The parts are
grouped into several translation units (UNIT_STATEMENTS each) that the backend
compiles in parallel and links into one library.  The CUDA kernel stays one
function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._version import __version__
from ..ir.node import Node
from ..ir.ops import c_helpers
from .kernel import SlotTable, check_inputs, graph_hash, legend, live_across, slot_table
from .printer import Statement, c_backend, expression_statements, value_text
from .render import render

FRAMES = {"c": "c/kernel.c.j2", "cuda": "cuda/kernel.cu.j2"}
REAL = {"float64": "double", "float32": "float"}
C_PART_STATEMENTS = 1000
"""Statements per C function once a kernel is cut (compilers are superlinear in a function's size)."""
PART_READS = 400
"""Values a part may load from earlier parts: a part summing 10^4 earlier values is cut further."""
UNIT_STATEMENTS = 10_000
"""Statements per translation unit of a cut kernel: the units compile in parallel."""
LANES = 64
"""Points per block of a cut kernel: each part runs its loop over one block."""
SIMD_STATEMENTS = 2_000
"""Past this many statements the loops are not vectorised (and the backend compiles with -O1): vectorising a
1,000-statement loop costs the compiler ~10x the time of compiling it scalar, and a kernel this long is
bound by its compile time, not its speed."""


@dataclass(frozen=True)
class NativeKernel:
    """Generated C or CUDA source and the kernel's name."""

    source: str
    name: str
    frame: str  # "c" or "cuda"
    dtype: str
    graph_hash: str
    steps: int
    n_inputs: int
    outputs: tuple[Node, ...]  # what O[k] receives: every non-constant slot, repeats included
    units: tuple[int, ...] = ()  # where each translation unit of a cut kernel starts in ``source`` (() for one)
    scratch: int = 0  # reals of scratch the cut kernel's entry point takes (slots of values across cuts x LANES)
    vector_math: tuple[str, ...] = ()  # libm functions declared with vector variants
    simd: bool = True  # the loops are vectorised (False past SIMD_STATEMENTS: compiled for compile time)

    @property
    def unique(self) -> None:
        """None: a native kernel stores every non-constant slot itself (repeats from registers)."""
        return None

    @property
    def translation_units(self) -> tuple[str, ...]:
        """The source as the compiler is given it: one text, or the units of a cut kernel."""
        if not self.units:
            return (self.source,)
        ends = (*self.units[1:], len(self.source))
        return tuple(self.source[a:b] for a, b in zip(self.units, ends))


VECTOR_ARITY = {"atan2": 2, "hypot": 2, "pow": 2}


def vector_declarations(names: tuple[str, ...], dtype: str) -> list[str]:
    """``#pragma omp declare simd`` declarations of libm functions (``sin``; ``sinf`` in float32 kernels)."""
    real = REAL[dtype]
    suffix = "f" if dtype == "float32" else ""
    lines = []
    for name in names:
        params = ", ".join([real] * VECTOR_ARITY.get(name, 1))
        lines += ["#pragma omp declare simd notinbranch", f"extern {real} ({name}{suffix})({params});"]
    return lines


def generate_native(
    inputs: list[Node],
    slots: SlotTable | Sequence[Node],
    dtype: str,
    frame: str,
    vector_math: tuple[str, ...] = (),
) -> NativeKernel:
    """The kernel computing each distinct non-constant slot once per point.

    A value needed in several slots (the mirrored half of a Hessian) is stored
    from its register into each of them, so every output is written exactly once
    and no second pass over memory copies it.  ``vector_math`` names the libm
    functions to declare with vector variants (C frame only; the backend
    chooses them and links their library).  ``slots``: the output slots'
    :class:`~symgrad.codegen.kernel.SlotTable`, or their nodes.
    """
    table = slot_table(slots)
    unique = list(table.computed)
    nodes = table.nodes
    outputs = [nodes[k] for k in table.inverse[table.computed_slots].tolist()]  # every non-constant slot, in order
    sched = table.schedule
    check_inputs(sched, inputs)
    gh = graph_hash(inputs, table)
    used = set(sched.inputs) | {u for u in unique if u.op == "sym"}
    input_names = {s: f"x{i}" for i, s in enumerate(inputs)}
    be = c_backend(dtype)
    statements, names = expression_statements(sched, input_names, be)
    name = f"{frame}_kernel_{gh}_{dtype}"
    stored = [value_text(node, names, be) for node in outputs]
    helpers = c_helpers(n.op for n in sched.steps)  # from the op table, only those the schedule uses
    common = {
        "version": __version__,
        "graph_hash": gh,
        "legend": legend(inputs, outputs, "O"),
        "cuda": frame == "cuda",
        "real": REAL[dtype],
        "name": name,
        "helpers": helpers,
    }
    facts = {"name": name, "frame": frame, "dtype": dtype, "graph_hash": gh, "steps": len(sched.steps)}
    facts.update(n_inputs=len(inputs), outputs=tuple(outputs))
    if frame == "c" and len(statements) > C_PART_STATEMENTS:
        loads = {f"x{i}": i for i, s in enumerate(inputs) if s in used}
        return _cut_kernel(statements, stored, loads, vector_math, common, facts)
    unpack = [
        f"const real *const SG_RESTRICT X{i} = X[{i}]; const sg_index S{i} = S[{i}];"
        for i, s in enumerate(inputs)
        if s in used
    ]
    unpack += [f"real *const SG_RESTRICT O{k} = O[{k}];" for k in range(len(outputs))]
    loads = [f"const real x{i} = X{i}[i * S{i}];" for i, s in enumerate(inputs) if s in used]
    stores = [f"O{k}[i * OS] = {text};" for k, text in enumerate(stored)]
    body = loads + [s.text for s in statements] + stores
    declarations = vector_declarations(vector_math, dtype) if frame == "c" else []
    source = render(FRAMES[frame], unpack=unpack, body=body, declarations=declarations, parts=[], **common)
    return NativeKernel(source, vector_math=vector_math if frame == "c" else (), **facts)


def _cut_kernel(
    statements: list[Statement],
    stored: list[str],
    x_index: dict[str, int],
    vector_math: tuple[str, ...],
    common: dict,
    facts: dict,
) -> NativeKernel:
    """A C kernel as part functions over blocks of LANES points, in several translation units."""
    chunks = _chunks(statements)
    ins, outs = live_across(chunks, set())
    store_part: dict[str, list[int]] = {}
    defined_in = {s.defines: k for k, chunk in enumerate(chunks) for s in chunk}
    for k, text in enumerate(stored):
        store_part.setdefault(text, []).append(k)
    slot_of = _spill_slots(ins, outs, x_index)
    simd = len(statements) <= SIMD_STATEMENTS
    pragma = "#pragma omp simd" if simd else "/* not vectorised: a long kernel */"
    vector_math = vector_math if simd else ()
    parts = []
    for k, chunk in enumerate(chunks):
        stores_here = [(o, t) for t, os_ in store_part.items() for o in os_ if defined_in.get(t, 0) == k]
        xs = sorted({x_index[r] for r in ins[k] if r in x_index} | {x_index[t] for _, t in stores_here if t in x_index})
        unpack = [f"const real *const SG_RESTRICT X{i} = X[{i}]; const sg_index S{i} = S[{i}];" for i in xs]
        unpack += [f"real *const SG_RESTRICT O{o} = O[{o}];" for o, _ in sorted(stores_here)]
        body = [f"const real x{i} = X{i}[i * S{i}];" for i in xs]
        body += [f"const real {v} = V[{slot_of[v] * LANES} + l];" for v in ins[k] if v not in x_index]
        body += [s.text for s in chunk]
        body += [f"O{o}[i * OS] = {t};" for o, t in sorted(stores_here)]
        body += [f"V[{slot_of[v] * LANES} + l] = {v};" for v in outs[k]]
        parts.append({"name": f"{common['name']}_p{k}", "unpack": unpack, "body": body, "pragma": pragma})
    per_unit = max(1, UNIT_STATEMENTS // C_PART_STATEMENTS)
    groups = [parts[i : i + per_unit] for i in range(0, len(parts), per_unit)]
    declarations = vector_declarations(vector_math, facts["dtype"])
    scratch = (max(slot_of.values(), default=-1) + 1) * LANES
    texts = [
        render(FRAMES["c"], parts=[p["name"] for p in parts], lanes=LANES, scratch=scratch, declarations=[], **common)
    ]
    texts += [render("c/parts.c.j2", parts=g, lanes=LANES, declarations=declarations, **common) for g in groups]
    offsets = [0]
    for text in texts[:-1]:
        offsets.append(offsets[-1] + len(text))
    return NativeKernel(
        "".join(texts), units=tuple(offsets), scratch=scratch, vector_math=vector_math, simd=simd, **facts
    )


def _chunks(statements: list[Statement]) -> list[list[Statement]]:
    """Consecutive statements, at most C_PART_STATEMENTS a chunk and at most PART_READS values read from before it."""
    chunks: list[list[Statement]] = []
    current: list[Statement] = []
    defined: set[str] = set()
    outside: set[str] = set()
    for s in statements:
        new = [r for r in s.reads if r not in defined and r not in outside]
        if current and (len(current) >= C_PART_STATEMENTS or len(outside) + len(new) > PART_READS):
            chunks.append(current)
            current, defined, outside = [], set(), set()
            new = list(s.reads)
        current.append(s)
        outside.update(new)
        defined.add(s.defines)
    if current:
        chunks.append(current)
    return chunks


def _spill_slots(ins: list[list[str]], outs: list[list[str]], inputs: dict[str, int]) -> dict[str, int]:
    """A scratch slot for each value stored across a cut; a slot is reused once its value's last reader has run."""
    last_reader: dict[str, int] = {}
    for k, names in enumerate(ins):
        for v in names:
            if v not in inputs:
                last_reader[v] = k
    slot_of: dict[str, int] = {}
    free: list[int] = []
    expiring: dict[int, list[int]] = {}
    count = 0
    for k, names in enumerate(outs):
        free += expiring.pop(k, [])  # values last read by part k: their slots may take part k's stores
        for v in names:
            if free:
                slot_of[v] = free.pop()
            else:
                slot_of[v] = count
                count += 1
            expiring.setdefault(last_reader[v], []).append(slot_of[v])
    return slot_of
