"""C and CUDA source for one compiled object: the same printed lines in two frames.

The per-point body (load the inputs, one SSA statement per scheduled node, store
the outputs) is printed once by :func:`symgrad.codegen.printer.expression_statements`
with the C spellings; ``templates/c/kernel.c.j2`` wraps it in a loop over a range
of the batch (the CPU backend), ``templates/cuda/kernel.cu.j2`` in a grid-stride
loop, one thread per point (the GPU backend).  Both read inputs through a stride,
so strided views and broadcast scalars need no copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._version import __version__
from ..ir.node import Node
from ..ir.ops import c_helpers
from .kernel import check_inputs, graph_hash, legend, unique_outputs
from .printer import c_backend, expression_statements, value_text
from .render import render
from .schedule import schedule

FRAMES = {"c": "c/kernel.c.j2", "cuda": "cuda/kernel.cu.j2"}
REAL = {"float64": "double", "float32": "float"}


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

    @property
    def unique(self) -> None:
        """None: a native kernel stores every non-constant slot itself (repeats from registers)."""
        return None


def generate_native(inputs: list[Node], slots: list[Node], dtype: str, frame: str) -> NativeKernel:
    """The kernel computing each distinct non-constant slot once per point.

    A value needed in several slots (the mirrored half of a Hessian) is stored
    from its register into each of them, so every output is written exactly once
    and no second pass over memory copies it.
    """
    unique = unique_outputs(slots)
    outputs = [n for n in slots if n.op != "const"]
    sched = schedule(unique)
    check_inputs(sched, inputs)
    gh = graph_hash(inputs, slots)
    used = set(sched.inputs) | {u for u in unique if u.op == "sym"}
    input_names = {s: f"x{i}" for i, s in enumerate(inputs)}
    statements, names = expression_statements(sched, input_names, c_backend(dtype))
    unpack = [
        f"const real *const SG_RESTRICT X{i} = X[{i}]; const sg_index S{i} = S[{i}];"
        for i, s in enumerate(inputs)
        if s in used
    ]
    unpack += [f"real *const SG_RESTRICT O{k} = O[{k}];" for k in range(len(outputs))]
    loads = [f"const real x{i} = X{i}[i * S{i}];" for i, s in enumerate(inputs) if s in used]
    stores = [f"O{k}[i * OS] = {value_text(node, names, c_backend(dtype))};" for k, node in enumerate(outputs)]
    name = f"{frame}_kernel_{gh}_{dtype}"
    body = loads + [s.text for s in statements] + stores
    helpers = c_helpers(n.op for n in sched.steps)  # from the op table, only those the schedule uses
    source = render(
        FRAMES[frame],
        version=__version__,
        graph_hash=gh,
        legend=legend(inputs, outputs, "O"),
        cuda=frame == "cuda",
        real=REAL[dtype],
        name=name,
        unpack=unpack,
        body=body,
        helpers=helpers,
    )
    return NativeKernel(source, name, frame, dtype, gh, len(sched.steps), len(inputs), tuple(outputs))
