"""Dense outputs: a dense Hessian's n^2 slots are walked once, and computed as the sparse entries.

A dense Hessian of n variables has n^2 output slots holding ~3n distinct nodes
for a tridiagonal one (the same node in both mirrored halves, ZERO nearly
everywhere).  A compiled object numbers its slots once
(:class:`~symgrad.codegen.kernel.SlotTable`: one ``dict.fromkeys`` and one
``np.fromiter`` over them); the kernel's outputs, its graph hash, the slot
layout and lowering work on the distinct nodes and numpy index arrays.  Here:
the dense values are the sparse ones, bit for bit, on numpy and C; the graph
hash follows the structure (which node each slot holds); the build walks the
slots once, counted, never timed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from oracle import lines_run

import symgrad as sg
from symgrad.api import compiled as compiled_module
from symgrad.api.compiled import _SlotLayout
from symgrad.codegen import kernel as kernel_module
from symgrad.codegen.kernel import SlotTable, graph_hash, unique_outputs
from symgrad.diff.reverse import ZERO
from symgrad.ir.node import toposort

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
N = 300
RNG = np.random.default_rng(15)
POINTS = RNG.uniform(-1.5, 1.5, (5, N))


def f(x):
    """Rosenbrock (tridiagonal, mirrored entries, ZERO nearly everywhere, a constant 200 last on the diagonal)
    plus a term whose Hessian entries are the constant 2.5 in two corners."""
    n = len(x)
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1)) + 2.5 * x[0] * x[n - 1]


def expected_hessian(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    h = np.zeros(x.shape[:-1] + (n, n))
    for i in range(n - 1):
        h[..., i, i] += 1200 * x[..., i] ** 2 - 400 * x[..., i + 1] + 2
        h[..., i + 1, i + 1] += 200
        h[..., i, i + 1] = h[..., i + 1, i] = -400 * x[..., i]
    h[..., 0, n - 1] = h[..., n - 1, 0] = 2.5
    return h


def assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


# -- the values: dense is the sparse one expanded, bit for bit ------------------------------------


def check_dense_against_sparse(backend: str, dtype: str, n: int) -> None:
    shapes = {"x": (n,)}
    dense = sg.hessian(f, shapes=shapes, backend=backend, dtype=dtype)
    sparse = sg.hessian(f, shapes=shapes, backend=backend, dtype=dtype, sparse=True)
    points = POINTS[:, :n]
    got, entries = dense(points), sparse(points)  # a batch of points
    assert got.shape == (len(points), n, n) and got.dtype == np.dtype(dtype)
    assert_same_bits(got, entries.todense())
    np.testing.assert_allclose(got, expected_hessian(points), rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-3)
    one = dense(points[1])  # one point
    assert_same_bits(one, entries.todense()[1])
    dropped = dense(points)
    dropped[...] = 7.0  # written into, then dropped: the next call reuses its block
    del dropped
    again = dense(points[::-1])  # the constant slots are written again
    assert_same_bits(again, entries.todense()[::-1])
    assert_same_bits(got, entries.todense())  # the live result kept its values


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_dense_hessian_is_the_sparse_one_bit_for_bit(dtype):
    check_dense_against_sparse("numpy", dtype, N)


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_c_dense_hessian_is_the_sparse_one_bit_for_bit(dtype, monkeypatch):
    """At n = 300 on the C tape interpreter (compiled once, shared by both graphs): the layout of a taped kernel."""
    monkeypatch.setenv("SYMGRAD_C_TAPE_STATEMENTS", "0")
    check_dense_against_sparse("c", dtype, N)


@needs_cc
def test_c_compiled_dense_hessian_is_the_sparse_one_bit_for_bit(monkeypatch):
    """A kernel compiled per graph stores every non-constant slot itself (the layout without copies)."""
    monkeypatch.setenv("SYMGRAD_C_TAPE_STATEMENTS", "1000000000")
    dense = sg.hessian(f, shapes={"x": (24,)}, backend="c")
    assert dense.kernel.unique is None
    check_dense_against_sparse("c", "float64", 24)


def g(a, b, c):
    return a**2 * b + sg.sin(c) * a + 3 * b * c + 0.5 * c**2


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_plain_floats_give_plain_floats_equal_to_the_array_call(backend):
    h = sg.hessian(g, argnums=(0, 1, 2), backend=backend)
    sparse = sg.hessian(g, argnums=(0, 1, 2), backend=backend, sparse=True)
    point = (0.3, -1.2, 0.8)
    got = h(*point)  # a 3 x 3 nesting of floats (JAX's layout for three arguments)
    assert all(type(v) is float for row in got for v in row)
    want = sparse(*(np.array([v]) for v in point)).todense()[0]
    assert_same_bits(np.array(got), want)
    assert got[1][1] == 0.0 and got[1][2] == got[2][1] == 3.0  # a ZERO slot and a repeated constant


def test_a_constant_majority_that_is_not_zero_and_a_reused_block():
    """The constant filling most slots fills the block; a block the caller dropped after writing into it is refilled."""
    x = sg.symbols("x", shape=(3,))
    out = np.full((40, 40), 1.5, dtype=object)  # numbers: made constant nodes
    out[0, 0], out[3, 7], out[7, 3], out[39, 39] = x[0] * x[1], sg.sin(x[2]), sg.sin(x[2]), -2.0
    fn = sg.compile(out, inputs=list(x.reshape(-1)))
    assert fn._layout.fill == 1.5 and fn._layout.const_idx.tolist() == [40 * 40 - 1]
    pts = RNG.uniform(-1, 1, (4, 3))
    want = np.full((4, 40, 40), 1.5)
    want[:, 0, 0] = pts[:, 0] * pts[:, 1]
    want[:, 3, 7] = want[:, 7, 3] = np.sin(pts[:, 2])
    want[:, 39, 39] = -2.0
    for _ in range(3):
        got = fn(pts[:, 0], pts[:, 1], pts[:, 2])
        assert_same_bits(got, want)
        got[...] = 7.0  # dropped after being written into: the next call reuses its block
        del got


def test_a_constant_minority_is_listed_and_repeats_copied():
    x, y = sg.symbols("x y")
    out = np.array([x * y, 2.0, x * y, sg.exp(y), ZERO, sg.exp(y), x * y], dtype=object)
    fn = sg.compile(out, inputs=[x, y])
    layout = fn._layout
    assert layout.fill is None and layout.const_idx.tolist() == [1, 4]
    assert (
        layout.kernel_rows == [0, 3] and layout.dup_dst.tolist() == [2, 5, 6] and layout.dup_src.tolist() == [0, 3, 0]
    )
    xs, ys = np.array([0.5, -2.0]), np.array([1.5, 0.25])
    want = np.stack([xs * ys, [2.0, 2.0], xs * ys, np.exp(ys), [0.0, 0.0], np.exp(ys), xs * ys], -1)
    assert_same_bits(fn(xs, ys), want)


def test_custom_functions_are_lowered_per_distinct_node_and_merged():
    """Lowering runs on the distinct nodes; a custom call and its body inlined by hand become one node."""

    @sg.custom_function
    def soft(t):
        return sg.log(1 + sg.exp(t))

    def by_hand(t):
        return sg.log(1 + sg.exp(t))

    def outputs(body):
        def fn(x):
            out = np.full((30, 30), 0.0, dtype=object)
            for i in range(29):
                out[i, i] = soft(x[i])  # the custom call
                out[i, i + 1] = body(x[i]) * x[i + 1]
                out[i + 1, i] = body(x[i])  # by hand: the same node as out[i, i] once that is lowered
            return out

        return fn

    a = sg.compile(outputs(by_hand), shapes={"x": (30,)})  # soft(x[i]) and its body by hand: merged when lowered
    b = sg.compile(outputs(soft), shapes={"x": (30,)})
    assert any(n.op == "custom" for n in toposort(a._exprs[:1]))  # as built: by name
    assert not any(n.op == "custom" for n in toposort(a._table.nodes))  # as generated: inlined
    assert a._table.nodes == SlotTable.of(a._slots).nodes  # numbered as the lowered slots themselves
    assert a._table.inverse.tolist() == SlotTable.of(a._slots).inverse.tolist()
    assert len(a._table.nodes) < len(SlotTable.of(a._exprs).nodes)
    pts = RNG.uniform(-1, 1, (3, 30))
    assert_same_bits(a(pts), b(pts))
    assert a.kernel.graph_hash == b.kernel.graph_hash  # the same structure once lowered


# -- the slot table --------------------------------------------------------------------------------


def test_the_table_numbers_distinct_nodes_in_first_seen_order():
    x, y = sg.symbols("x y")
    slots = [ZERO, x * y, ZERO, sg.sin(x), x * y, ZERO]
    table = SlotTable.of(slots)
    assert table.nodes == [ZERO, x * y, sg.sin(x)] and table.inverse.tolist() == [0, 1, 0, 2, 1, 0]
    assert table.slots is slots and len(table) == 6
    assert table.computed == [x * y, sg.sin(x)] == unique_outputs(slots)
    assert table.computed_slots.tolist() == [1, 3, 4]
    assert table.replaced(list(table.nodes)) is table
    merged = table.replaced([ZERO, sg.sin(x), sg.sin(x)])  # two distinct nodes became one
    fresh = SlotTable.of(merged.slots)
    assert merged.nodes == fresh.nodes and merged.inverse.tolist() == fresh.inverse.tolist() == [0, 1, 0, 1, 1, 0]
    assert merged.slots == [ZERO, sg.sin(x), ZERO, sg.sin(x), sg.sin(x), ZERO]
    assert merged.digest == fresh.digest


def test_numbers_and_nodes_among_the_outputs_become_nodes():
    x = sg.symbols("x")
    fn = sg.compile({"a": np.array([x, 1.0, 2, x], dtype=object), "b": (3.5, x * 2)}, inputs=[x])
    assert all(isinstance(s, type(x)) for s in fn._exprs)
    got = fn(np.array([1.0, 2.0]))
    assert_same_bits(got["a"], np.array([[1.0, 1.0, 2.0, 1.0], [2.0, 1.0, 2.0, 2.0]]))
    assert got["b"][0].tolist() == [3.5, 3.5] and got["b"][1].tolist() == [2.0, 4.0]
    floats = fn(3.0)  # the scalar path
    assert floats["a"].tolist() == [3.0, 1.0, 2.0, 3.0] and floats["b"] == (3.5, 6.0)


# -- the graph hash: a function of which node each slot holds --------------------------------------


def dense_hash(n: int) -> str:
    return sg.hessian(f, shapes={"x": (n,)}).kernel.graph_hash


def test_the_graph_hash_of_equal_structure_is_equal():
    assert dense_hash(60) == dense_hash(60)
    x = sg.symbols("x", shape=(3,))
    xs = list(x.reshape(-1))
    slots = [ZERO, xs[0] * xs[1], ZERO, sg.cos(xs[2])]
    assert graph_hash(xs, slots) == graph_hash(xs, list(slots)) == graph_hash(xs, SlotTable.of(slots))
    c = sg.compile(np.array(slots, dtype=object), inputs=xs)
    for backend in ("numpy", "c", "cuda"):
        assert f"_{c.kernel.graph_hash}" in c.source_for(backend)  # every backend names its kernel by it


def test_the_graph_hash_changes_with_any_slot():
    x = sg.symbols("x", shape=(3,))
    xs = list(x.reshape(-1))
    base = [ZERO, xs[0] * xs[1], ZERO, sg.cos(xs[2]), xs[0] * xs[1]]
    one_changed = [ZERO, xs[0] * xs[1], ZERO, sg.sin(xs[2]), xs[0] * xs[1]]
    swapped = [ZERO, sg.cos(xs[2]), ZERO, xs[0] * xs[1], xs[0] * xs[1]]
    constant = [ZERO, xs[0] * xs[1], ZERO, sg.cos(xs[2]), ZERO]  # where a slot's value comes from: a copy or a fill
    repeat = [ZERO, xs[0] * xs[1], xs[0] * xs[1], sg.cos(xs[2]), xs[0] * xs[1]]
    hashes = {graph_hash(xs, s) for s in (base, one_changed, swapped, constant, repeat, base[:4], base + [ZERO])}
    assert len(hashes) == 7
    assert graph_hash(xs, base) != graph_hash(xs[::-1], base)  # the inputs' order too
    hess = sg.hessian(f, shapes={"x": (20,)})
    outs = hess.outputs.copy()
    outs[2, 5], outs[5, 2] = outs[5, 2], outs[2, 5]  # a ZERO and a ZERO: the same structure
    inputs = hess._inputs
    assert graph_hash(inputs, list(outs.reshape(-1))) == hess.kernel.graph_hash
    outs[3, 4], outs[0, 19] = outs[0, 19], outs[3, 4]  # a computed entry and the constant 2.5 swapped
    assert graph_hash(inputs, list(outs.reshape(-1))) != hess.kernel.graph_hash


def test_the_graph_hash_is_the_same_in_another_process():
    script = textwrap.dedent(
        """
        import symgrad as sg
        h = sg.hessian(lambda x: sum(x[i] ** 2 * x[i + 1] for i in range(3)) + sg.exp(x[0]), shapes={"x": (4,)})
        print(h.kernel.graph_hash)
        """
    )
    here = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    h = sg.hessian(lambda x: sum(x[i] ** 2 * x[i + 1] for i in range(3)) + sg.exp(x[0]), shapes={"x": (4,)})
    assert here.strip() == there.strip() == h.kernel.graph_hash


# -- the work: counted, never timed --------------------------------------------------------------


class PerSlotPasses:
    """Counts, while a build runs, table builds and ``np.fromiter`` calls over at least ``size`` items."""

    def __init__(self, monkeypatch, size: int) -> None:
        self.tables = self.fromiters = 0
        real_of, real_fromiter = SlotTable.of.__func__, np.fromiter

        def of(cls, slots):
            self.tables += len(slots) >= size
            return real_of(cls, slots)

        def fromiter(iterable, dtype, count=-1, **kwargs):
            self.fromiters += count >= size
            return real_fromiter(iterable, dtype, count, **kwargs)

        monkeypatch.setattr(SlotTable, "of", classmethod(of))
        monkeypatch.setattr(np, "fromiter", fromiter)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_a_dense_build_numbers_its_slots_once(backend, monkeypatch):
    n = 200
    passes = PerSlotPasses(monkeypatch, n * n)
    h = sg.hessian(f, shapes={"x": (n,)}, backend=backend)
    assert passes.tables == 1 and passes.fromiters == 1  # the table: one dict.fromkeys, one np.fromiter
    h.source_for("cuda" if backend == "numpy" else "numpy")  # another backend's code: the same table
    assert passes.tables == 1 and passes.fromiters == 1
    assert len(h._table) == n * n and len(h._table.nodes) < 4 * n


COUNTED = ("symgrad/api/", "symgrad/codegen/", "symgrad/backends/", "symgrad/ir/custom.py")


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_the_compile_path_runs_no_python_per_slot(backend):
    """Twice the variables: four times the slots, twice the distinct nodes, so twice the lines (a per-slot loop: 4x)."""

    def build(n: int):
        return lambda: sg.hessian(f, shapes={"x": (n,)}, backend=backend, verify=False)

    small, big = lines_run(build(100), COUNTED), lines_run(build(200), COUNTED)
    assert big < 2.3 * small, (small, big)


def test_the_layout_is_built_from_the_table_without_python_per_slot(monkeypatch):
    """The layout asks the table for per-node facts only: no Python loop over a list of the slots."""
    n = 120
    h = sg.hessian(f, shapes={"x": (n,)})
    table = h._table
    table._slots = None  # a list of the slots would have to be gathered again: nothing must ask for it
    layout = _SlotLayout(table, h.kernel.unique)
    assert table._slots is None
    assert layout.fill == 0.0 and layout.size == n * n
    assert layout.const_idx.tolist() == [n - 1, (n - 1) * n, n * n - 1]  # 2.5, 2.5 and the 200: listed
    assert len(layout.kernel_rows) == len(h.kernel.unique)
    assert compiled_module.SlotTable is kernel_module.SlotTable


def test_compiling_a_dense_expression_array_runs_no_python_per_slot():
    """sg.compile(H, inputs=[x]) of a dense Hessian expression: its outputs are taken in whole-array passes."""
    COUNTED_WITH_TRACING = (*COUNTED, "symgrad/tracing/")

    def build(n: int):
        x = sg.symbols("x", shape=(n,))
        H = sg.hessian(f(x), x)
        return lambda: sg.compile(H, inputs=[x], verify=False)

    small, big = lines_run(build(100), COUNTED_WITH_TRACING), lines_run(build(200), COUNTED_WITH_TRACING)
    assert big < 2.3 * small, (small, big)  # an element loop over the n*n entries: 4x


def test_an_array_output_of_numbers_and_nodes_becomes_nodes():
    x = sg.symbols("x")
    c = sg.compile(np.array([[x, 2.0], [np.float32(0.5), x * 3]], dtype=object), inputs=[x])
    np.testing.assert_array_equal(c(2.0), [[2.0, 2.0], [0.5, 6.0]])
    c = sg.compile(np.array([1.5, -2.0]), inputs=[x])
    np.testing.assert_array_equal(c(7.0), [1.5, -2.0])
    with pytest.raises(sg.TraceError, match="complex"):
        sg.compile(np.array([1j, 2.0]), inputs=[x])
