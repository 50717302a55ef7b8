"""Source of a reduction over samples: the per-point body of the C and CUDA kernels, summed in the same loop.

The body (load one sample's inputs, one SSA statement per scheduled node) is
printed exactly as :func:`symgrad.codegen.csource.generate_native` prints it.
``templates/c/reduce.c.j2`` wraps it in a vectorised loop over each block of
``SUM_BLOCK`` samples of a range that adds each distinct output into a double
accumulator (``omp simd reduction``), the block sums added with compensation,
so no per-sample output is ever stored.
``templates/cuda/reduce.cu.j2`` wraps it in a grid-stride loop
that adds each distinct output into a double accumulator of its own thread,
then sums each accumulator over the block (a fixed tree in shared memory) and
writes one partial sum per block and output.  The host adds the blocks'
partials in block order, so the result is the same for the same input and
grid -- no atomics, no dependence on scheduling.  Constant outputs are not
computed on the device: their sum is ``N * c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..ir.node import Node
from ..ir.ops import c_helpers
from .csource import REAL, vector_declarations
from .kernel import SlotTable, check_inputs, graph_hash, legend, slot_table
from .printer import c_backend, expression_statements, value_text
from .render import render

BLOCK = 256
"""Threads per block of the CUDA reduction (a power of two: the block sum is a halving tree)."""
SUM_BLOCK = 128
"""Points per block of the C reduction: each SIMD lane sums at most this many in order (32 with 4 lanes), and the
block sums are added with compensation.  Summing a whole range (8192 points) in order lost 67 ulps of the sum of
a constant 0.1 over 10^6 samples, where numpy's pairwise sum loses under one; at 128 the sums are as accurate
as numpy's and the extra cost per block (a lane combination and a compensated add per output) is not measurable."""


@dataclass(frozen=True)
class ReduceKernel:
    """A fused map + reduction kernel (C or CUDA) and how its sums map back to the output slots."""

    source: str
    name: str
    frame: str  # "c" or "cuda"
    dtype: str
    steps: int  # statements per point
    n_sums: int  # distinct non-constant outputs: the sums the kernel writes (per block on CUDA)
    slot_sum: tuple[int, ...]  # per output slot: its index among the sums, or -1 for a constant
    constants: tuple[float, ...]  # per output slot: its value when constant (else 0.0)
    block: int = 0  # CUDA: the threads per block it must be launched with
    vector_math: tuple[str, ...] = ()  # C: libm functions declared with vector variants
    simd: bool = True  # C: the loop is vectorised (read, with steps and vector_math, by the C backend's flags)


def _parts(inputs: list[Node], slots: SlotTable | Sequence[Node], dtype: str, prefix: str) -> tuple[dict, dict]:
    """The template context shared by both frames (the per-point body, as generate_native prints it) and facts."""
    table = slot_table(slots)
    unique = list(table.computed)
    sched = table.schedule
    check_inputs(sched, inputs)
    gh = graph_hash(inputs, table)
    used = set(sched.inputs) | {u for u in unique if u.op == "sym"}
    be = c_backend(dtype)
    statements, names = expression_statements(sched, {s: f"x{i}" for i, s in enumerate(inputs)}, be)
    unpack = [
        f"const real *const SG_RESTRICT X{i} = X[{i}]; const sg_index S{i} = S[{i}];"
        for i, s in enumerate(inputs)
        if s in used
    ]
    loads = [f"const real x{i} = X{i}[i * S{i}];" for i, s in enumerate(inputs) if s in used]
    adds = [f"a{k} += (sg_acc)({value_text(node, names, be)});" for k, node in enumerate(unique)]
    name = f"{prefix}_reduce_{gh}_{dtype}"
    context = {
        "version": __version__,
        "graph_hash": gh,
        "legend": legend(inputs, unique, "sum of a"),
        "real": REAL[dtype],
        "helpers": c_helpers(n.op for n in sched.steps),
        "name": name,
        "unpack": unpack,
        "init": [f"sg_acc a{k} = 0;" for k in range(len(unique))],
        "body": loads + [s.text for s in statements] + adds,
    }
    # per distinct node: its sum's index (-1 for a constant) and its constant value; gathered per slot by numpy
    is_const = table.is_const
    sum_of = np.full(len(table.nodes), -1, dtype=np.intp)
    sum_of[~is_const] = np.arange(len(unique))
    value_of = table.values
    facts = {
        "name": name,
        "dtype": dtype,
        "steps": len(sched.steps),
        "n_sums": len(unique),
        "slot_sum": tuple(sum_of[table.inverse].tolist()),
        "constants": tuple(value_of[table.inverse].tolist()),
    }
    return context, facts


def generate_reduce(
    inputs: list[Node], slots: SlotTable | Sequence[Node], dtype: str, block: int = BLOCK
) -> ReduceKernel:
    """The CUDA kernel summing every distinct non-constant slot over the points ``[0, n)``, per block."""
    if block < 1 or block & (block - 1):
        raise ValueError(f"the block size of a reduction must be a power of two, got {block}")
    context, facts = _parts(inputs, slots, dtype, "cuda")
    count = facts["n_sums"]
    finish = [f"sg_block_sum(a{k}, sh, P, {k}, {count});" for k in range(count)]
    source = render("cuda/reduce.cu.j2", cuda=True, block=block, finish=finish, **context)
    return ReduceKernel(source, frame="cuda", block=block, **facts)


def generate_reduce_c(
    inputs: list[Node], slots: SlotTable | Sequence[Node], dtype: str, vector_math: tuple[str, ...] = ()
):
    """The C function summing every distinct non-constant slot over the points ``[start, stop)`` into ``P``.

    One vectorised loop (``omp simd`` with a reduction: a fixed number of lanes,
    each summing its points in order, combined in a fixed order), so the same
    input and range give the same sums on every call.
    """
    context, facts = _parts(inputs, slots, dtype, "c")
    count = facts["n_sums"]
    accumulators = ", ".join(f"a{k}" for k in range(count))
    pragma = f"#pragma omp simd reduction(+: {accumulators})" if count else "#pragma omp simd"
    totals = [f"sg_acc t{k} = 0, c{k} = 0;" for k in range(count)]
    fold = [f"sg_fold(&t{k}, &c{k}, a{k});" for k in range(count)]
    finish = [f"P[{k}] = isfinite(t{k}) ? t{k} + c{k} : t{k};" for k in range(count)]
    declarations = vector_declarations(vector_math, dtype)
    source = render(
        "c/reduce.c.j2",
        cuda=False,
        pragma=pragma,
        totals=totals,
        fold=fold,
        finish=finish,
        sum_block=SUM_BLOCK,
        declarations=declarations,
        **context,
    )
    return ReduceKernel(source, frame="c", vector_math=vector_math, **facts)
