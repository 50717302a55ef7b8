"""From input symbols and output slots to generated source, per backend.

Output *slots* are the flat list of scalar outputs (every entry of every
result array).  Slots holding the same node (the two halves of a symmetric
Hessian) are computed once and copied; slots holding a constant (the zeros of
a sparse Hessian) are filled once, outside the loop over the batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ._version import __version__
from .errors import TraceError
from .ir import Node, toposort
from .printer import PYTHON, expression_statements, numpy_statements, value_text
from .render import render
from .schedule import Schedule, schedule

CHUNK = 8192  # points per pass: ~64 KiB per float64 temporary, so the working set stays in cache
WORKING_SET = 1 << 20  # at most this many temporary elements in all, however many buffers a graph needs


def chunk_size(n_buffers: int) -> int:
    """Points per pass: CHUNK, smaller when many temporaries are alive at once."""
    chunk = CHUNK
    while chunk > 256 and chunk * n_buffers > WORKING_SET:
        chunk //= 2
    return chunk


@dataclass(frozen=True)
class Kernel:
    """Generated source for one compiled object, and the names to call."""

    numpy_source: str
    numpy_name: str
    scalar_source: str | None
    scalar_name: str
    graph_hash: str
    steps: int
    unique: tuple[Node, ...]  # the distinct computed output nodes, in kernel order


def graph_hash(inputs: list[Node], slots: list[Node]) -> str:
    """A digest of the structure computed (stable across processes)."""
    keys = np.fromiter((n.key for n in [*inputs, *slots]), dtype=np.uint64, count=len(inputs) + len(slots))
    return hashlib.sha256(keys.tobytes()).hexdigest()[:16]


def _check_inputs(sched: Schedule, inputs: list[Node]) -> None:
    declared = set(inputs)
    missing = [s.name for s in sched.inputs if s not in declared]
    if missing:
        raise TraceError(
            f"the outputs depend on {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not among the declared inputs"
        )


def _numpy_source(sched: Schedule, inputs: list[Node], unique: list[Node], dtype: str, name: str, gh: str) -> str:
    input_names = {s: f"x{i}" for i, s in enumerate(inputs)}
    used = set(sched.inputs)
    prologue = [f"x{i} = X{i} if X{i}.ndim == 0 else X{i}[start:stop]" for i, s in enumerate(inputs) if s in used]
    prologue += [f"o{k} = O{k}[start:stop]" for k in range(len(unique))]
    copies = [f"o{k}[...] = {input_names[node]}" for k, node in enumerate(unique) if node.op == "sym"]
    output_names = {node: f"o{k}" for k, node in enumerate(unique) if node.op != "sym"}
    body, n_buffers = numpy_statements(sched, input_names, output_names)
    chunk = chunk_size(n_buffers)
    setup = [f"b{i} = np.empty(min(n, {chunk}), dtype=np.{dtype})" for i in range(n_buffers)]
    return render(
        "numpy_kernel.py.j2",
        version=__version__,
        graph_hash=gh,
        name=name,
        chunk=chunk,
        n_inputs=len(inputs),
        n_outputs=len(unique),
        input_unpack=_unpack("X", len(inputs)),
        output_unpack=_unpack("O", len(unique)),
        setup=setup,
        prologue=prologue,
        body=copies + body,
        legend=legend(inputs, unique, "o"),
    )


LEGEND_LINES = 12  # the legend names the first outputs; a huge Hessian is not listed whole


def legend(inputs: list[Node], outputs: list[Node], out_prefix: str) -> list[str]:
    """Comment lines saying which generated name holds which symbol and formula."""
    lines = ["inputs: " + ", ".join(f"x{i} = {s.name}" for i, s in enumerate(inputs))]
    for k, node in enumerate(outputs[:LEGEND_LINES]):
        size = len(toposort([node]))  # printed as a tree, a shared graph can be far larger: show small ones only
        text = str(node) if size <= 60 else f"(a formula of {size} nodes)"
        lines.append(f"{out_prefix}{k} = {text if len(text) <= 100 else text[:97] + '...'}")
    if len(outputs) > LEGEND_LINES:
        lines.append(f"... and {len(outputs) - LEGEND_LINES} more outputs")
    return lines


def _unpack(prefix: str, count: int) -> str:
    if count == 0:
        return "_"
    return ", ".join(f"{prefix}{i}" for i in range(count)) + ("," if count == 1 else "")


def _scalar_source(sched: Schedule, inputs: list[Node], results: str, name: str, gh: str, slots: list[Node]) -> str:
    input_names = {s: f"x{i}" for i, s in enumerate(inputs)}
    body, names = expression_statements(sched, input_names, PYTHON)
    texts = [value_text(n, names, PYTHON) for n in slots]
    return render(
        "python_scalar.py.j2",
        version=__version__,
        graph_hash=gh,
        name=name,
        params=", ".join(f"x{i}" for i in range(len(inputs))),
        body=body,
        legend=legend(inputs, slots, "result "),
        results=results.format(*texts) if slots else "",
    )


def unique_outputs(slots: list[Node]) -> list[Node]:
    """The distinct non-constant nodes among the slots, in first-seen order."""
    return list(dict.fromkeys(n for n in slots if n.op != "const"))


def generate(inputs: list[Node], slots: list[Node], dtype: str, results_format: str | None) -> Kernel:
    """Source for the numpy kernel and (if ``results_format``) the scalar fast path.

    The numpy kernel computes each distinct non-constant output node once (the
    caller fills constant slots and copies repeated ones).  ``results_format`` is
    a Python expression with ``{0}``, ``{1}``... for the slots that builds the
    scalar path's structured result (a float, a tuple, an array).
    """
    unique = unique_outputs(slots)
    sched = schedule(unique)
    _check_inputs(sched, inputs)
    gh = graph_hash(inputs, slots)
    numpy_name, scalar_name = f"kernel_{gh}", f"scalar_{gh}"
    scalar = None
    if results_format is not None:
        scalar = _scalar_source(sched, inputs, results_format, scalar_name, gh, slots)
    return Kernel(
        numpy_source=_numpy_source(sched, inputs, unique, dtype, numpy_name, gh),
        numpy_name=numpy_name,
        scalar_source=scalar,
        scalar_name=scalar_name,
        graph_hash=gh,
        steps=len(sched.steps),
        unique=tuple(unique),
    )
