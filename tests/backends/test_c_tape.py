"""The C backend's tape interpreter: huge kernels run their instruction tape on one compiled interpreter.

Past ``C_TAPE_STATEMENTS`` the C backend builds the graph's tape instead of
compiling per-graph C.  These tests lower the threshold so small graphs run on
both, and hold the interpreter to the compiled kernel of the same graph: bit for
bit when both call libm (``SYMGRAD_VECTOR_MATH=none``, or a kernel past
``SIMD_STATEMENTS``), within 2 ulp of the vectorised kernel otherwise; every op
of the table, constant powers, nan/inf and domain edges, float32 and float64,
broadcast scalars, strided inputs and outputs, ``threads=2``, fast math.  And:
one compile serves every graph, a high threshold restores the per-graph
compile, and no compiler is the same BackendError as ever.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import (
    EXTRA_BINARY,
    EXTRA_UNARY,
    SMOOTH_BINARY,
    SMOOTH_UNARY,
    SX,
    SY,
    examples,
    expressions,
    no_c_compiler,
    op_operands,
    op_points,
)

import symgrad as sg
from symgrad.backends import c as native
from symgrad.backends import c_tape, vecmath
from symgrad.codegen.csource import SIMD_STATEMENTS, NativeKernel
from symgrad.errors import BackendError
from symgrad.ir import builders as B
from symgrad.ir.ops import OPS

pytestmark = [
    pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"),
    pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning"),  # verification and references off-domain
]
X, Y = sg.symbols("x y")
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 1e-30, 30.0, -30.0, 700.0, -700.0]


@pytest.fixture
def no_vector_math(monkeypatch):
    """Compiled kernels call libm, as the interpreter does (vecmath caches what it found)."""
    monkeypatch.setenv("SYMGRAD_VECTOR_MATH", "none")
    vecmath.library.cache_clear()
    yield
    monkeypatch.delenv("SYMGRAD_VECTOR_MATH")
    vecmath.library.cache_clear()


@pytest.fixture
def threshold(monkeypatch):
    """Set the tape threshold for the compiles that follow (the environment variable unset)."""
    monkeypatch.delenv(native.C_TAPE_ENV, raising=False)

    def use(value: int) -> None:
        monkeypatch.setattr(native, "C_TAPE_STATEMENTS", value)

    return use


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place (0 where both are nan, huge where only one is)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    ints = np.int64 if a.dtype == np.float64 else np.int32
    ia, ib = (x.view(ints).astype(np.int64) for x in (a, b))
    lo = np.int64(np.iinfo(ints).min)
    ia, ib = (np.where(i < 0, lo - i, i) for i in (ia, ib))  # monotonic in the value, -0.0 next to 0.0
    d = np.abs(ia - ib)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return np.where(nan_a & nan_b, 0, np.where(nan_a | nan_b, np.iinfo(np.int64).max, d))


def _both(outs, inputs, threshold, **options):
    """The same outputs compiled per graph and taped (threshold -1: even a kernel of no steps, only copies)."""
    threshold(10**9)
    compiled = sg.compile(outs, inputs=inputs, backend="c", **options)
    threshold(-1)
    taped = sg.compile(outs, inputs=inputs, backend="c", **options)
    assert isinstance(compiled.kernel, NativeKernel) and isinstance(taped.kernel, c_tape.TapedKernel)
    return compiled, taped


# -- every op of the table ---------------------------------------------------------------------------


def _op_table_case(n: int = 400):
    """One output per op of the table (fresh symbols each) and its operand columns: domain, wide, specials."""
    rng = np.random.default_rng(11)
    outs, inputs, columns, refs = [], [], [], []
    for op in OPS.values():
        if op.name in ("add", "mul", "pow"):
            continue  # the printer's arithmetic: test_arithmetic_and_constant_powers
        k = op_operands(op)
        syms = sg.symbols(" ".join(f"{op.name}_{i}" for i in range(k)))
        syms = list(syms) if k > 1 else [syms]
        specials = np.array(list(itertools.product(SPECIAL, repeat=k))).T
        pts = np.concatenate([op_points(op, n // 2), rng.uniform(-4, 4, (k, n // 2)), specials], axis=1)
        if op.name == "where":
            pts[0] = np.where(rng.random(pts.shape[1]) < 0.3, np.nan, np.round(pts[0]) % 2)  # 0, 1 or nan
        outs.append(B.call(op.name, *syms))
        inputs += syms
        columns.append(pts)
        refs.append(op)
    width = max(c.shape[1] for c in columns)
    columns = [np.resize(c, (c.shape[0], width)) for c in columns]
    return outs, inputs, columns, refs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_op_runs_bit_for_bit_as_the_compiled_kernel(dtype, threshold, no_vector_math):
    outs, inputs, columns, ops = _op_table_case()
    compiled, taped = _both(outs, inputs, threshold, dtype=dtype, verify=False)  # overflowing float32 points
    args = [row.astype(dtype) for c in columns for row in c]
    want, got = compiled(*args), taped(*args)
    for op, w, g in zip(ops, want, got):
        bad = ulps(w, g) > 0
        assert not bad.any(), f"{op.name}: interpreter {g[bad][:3]} vs compiled {w[bad][:3]}"


def _vector_math_case(dtype: str, n: int = 300):
    """One output per op that is one libm call with a vector variant here (``sin``, ``atan2``...), on shared
    inputs, and ``x**y``: a loop calling anything else is not vectorised, and calls libm as the interpreter does."""
    rng = np.random.default_rng(12)
    ops = [op for op in OPS.values() if re.fullmatch(r"(\w+)\(\{0\}(, \{1\})?\)", op.cuda)]
    ops = [op for op in ops if op.cuda.split("(")[0] in vecmath.functions(dtype)] + [OPS["pow"]]
    outs = [X**Y if op.name == "pow" else B.call(op.name, *[X, Y][: op_operands(op)]) for op in ops]
    pts = [np.resize(op_points(op, n), (2, n)) for op in ops]
    pts += [rng.uniform(-4, 4, (2, n)), np.array(list(itertools.product(SPECIAL, repeat=2))).T]
    return outs, np.concatenate(pts, axis=1), ops


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vector_math_is_within_2_ulp_and_every_op_near_numpy(dtype, threshold):
    outs, pts, ops = _vector_math_case(dtype)
    compiled, taped = _both(outs, [X, Y], threshold, dtype=dtype, verify=False)  # overflowing float32 points
    args = list(pts.astype(dtype))
    for op, w, g in zip(ops, compiled(*args), taped(*args)):
        assert ulps(w, g).max() <= 2, op.name
    outs, inputs, columns, ops = _op_table_case()
    threshold(0)
    taped = sg.compile(outs, inputs=inputs, backend="c", dtype=dtype, verify=False)
    got = taped(*[row.astype(dtype) for c in columns for row in c])
    rtol, atol = (1e-12, 1e-300) if dtype == "float64" else (2e-6, 1e-6)  # float32 sinc: pi*x rounded near its zeros
    for op, g, c in zip(ops, got, columns):
        with np.errstate(all="ignore"):
            ref = np.asarray(op.ref(*c.astype(dtype).astype(float)), dtype=float).astype(dtype)
        np.testing.assert_allclose(g, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=op.name)


POWERS = [2, 3, 4, 5, 6, 7, -1, -2, -3, -4, -5, -6, -7, 0.5, -0.5, 1.5, 2.5, -1.5, 1 / 3]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_arithmetic_and_constant_powers(dtype, threshold, no_vector_math):
    """The C printer's spellings: sums and products in its order (long ones in partial sums), its constant powers."""
    z = sg.symbols("z")
    outs = [X**e for e in POWERS]
    outs += [2**X, X**Y, X + Y - z, -X - Y, X * Y / z, 1 / (X * Y), X / Y, B.add(*(X * Y + k for k in range(40)))]
    outs += [B.mul(*(X + k for k in range(40))), X * (1 + 2**-24), 16777217.0 * Y, 0.1 * X - 0.7]
    compiled, taped = _both(outs, [X, Y, z], threshold, dtype=dtype, verify=False)  # overflowing float32 points
    rng = np.random.default_rng(5)
    pts = np.concatenate([rng.uniform(-4, 4, (3, 300)), np.array(list(itertools.product(SPECIAL, repeat=3))).T], 1)
    args = list(pts.astype(dtype))
    want, got = compiled(*args), taped(*args)
    for k, (w, g) in enumerate(zip(want, got)):
        assert ulps(w, g).max() == 0, f"output {k}: {outs[k]}"
    assert c_tape.POWER_CODE[4] in taped.kernel.program.code  # x**4 as x*x*x*x, not the tape's (x*x)*(x*x)


GRAPHS = expressions(
    {**SMOOTH_UNARY, **EXTRA_UNARY},
    {**SMOOTH_BINARY, **EXTRA_BINARY},
    st.sampled_from([(X, SX), (Y, SY), (X * Y, SX * SY), (-2.0, -2), (0.5, 0.5)]),
    max_leaves=10,
)


@settings(max_examples=examples(6), deadline=None, suppress_health_check=list(HealthCheck))
@given(GRAPHS, st.sampled_from(["float64", "float32"]))
def test_random_graphs_and_their_derivatives_run_bit_for_bit(threshold, no_vector_math, pair, dtype):
    e = pair[0]
    outs = [e, *sg.gradient(e, [X, Y]), *sg.hessian(e, [X, Y]).reshape(-1), 2.5, X]
    compiled, taped = _both(outs, [X, Y], threshold, dtype=dtype, verify=False)
    rng = np.random.default_rng(2)
    a, b = rng.uniform(-3, 3, (2, 500)).astype(dtype)
    a[: len(SPECIAL)] = SPECIAL
    # gcc folds a libm call whose operand is a constant on one branch of a maximum or minimum (it threads the
    # branch): correctly rounded there, where glibc's call, the interpreter's as numpy's, may be 1 ulp off.
    # Found: float32 atan2(0.5, maximum(x, -2)**2 + 2) at x < -2; float64 asin(0.9*tanh(maximum(x, -0.5971...)))
    # at x < -0.5971 (tanh of the constant).  Elsewhere the two agree bit for bit.
    limit = 1
    for w, g in zip(compiled(a, b), taped(a, b), strict=True):
        assert ulps(np.asarray(w, dtype=dtype), np.asarray(g, dtype=dtype)).max() <= limit


def test_float32_constants_round_from_their_decimal_as_the_compiler_does():
    tie = 1 + 2**-24  # halfway between two float32s: rounding the double would tie to even, 1.0
    assert c_tape.float32_literal(tie) == 1 + 2**-23  # the decimal 1.0000000596046448 is above the midpoint
    assert c_tape.float32_literal(16777217.0) == 16777216.0  # an exact decimal tie: to even, as strtof
    assert c_tape.float32_literal(0.1) == float(np.float32(0.1))
    assert c_tape.float32_literal(1e300) == math.inf and math.isnan(c_tape.float32_literal(math.nan))


# -- calling conventions ---------------------------------------------------------------------------------


def _small_graph():
    e = sg.sin(X * Y) * sg.exp(-(Y**2)) + sg.log(1 + X**2 + Y**2) * sg.tanh(Y) + X * Y / (1 + X**2)
    e = e + sg.where(X > Y, sg.sigmoid(X), sg.relu(Y)) + sg.maximum(X, 2.0) + sg.arctan2(X, 1 + Y**2)
    return [e, *sg.gradient(e, [X, Y]), *sg.hessian(e, [X, Y]).reshape(-1), 2.0, X, e]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_broadcast_scalars_strided_views_and_plain_floats(dtype, threshold, no_vector_math):
    compiled, taped = _both(_small_graph(), [X, Y], threshold, dtype=dtype)
    xs = np.linspace(-3, 3, 1001).astype(dtype)
    ys = np.linspace(2, -1, 1001).astype(dtype)
    for args in [(xs, ys), (xs, 0.7), (-1.5, ys), (xs[::3], ys[::-3]), (xs[::-1], ys[::-1]), (xs[:5], ys[:5])]:
        for w, g in zip(compiled(*args), taped(*args), strict=True):
            assert ulps(np.asarray(w, dtype=dtype), np.asarray(g, dtype=dtype)).max() == 0
    got, want = taped(0.3, -0.2), compiled(0.3, -0.2)  # plain floats: one point through the interpreter
    assert type(got[0]) is type(want[0]) and got == want


def test_threads_split_the_batch_into_whole_blocks(threshold, monkeypatch, no_vector_math):
    compiled, taped = _both(_small_graph(), [X, Y], threshold, threads=2)
    monkeypatch.setattr(c_tape, "_MIN_WORK_PER_THREAD", 1)
    ranges, threads_seen = [], set()
    run = c_tape.TapeRunner._run

    def recording(self, fn, ins, strides, outs, out_stride, lo, hi, *rest):
        ranges.append((lo, hi))
        threads_seen.add(threading.current_thread().name.split("_")[0])
        return run(self, fn, ins, strides, outs, out_stride, lo, hi, *rest)

    monkeypatch.setattr(c_tape.TapeRunner, "_run", recording)
    xs = np.linspace(-3, 3, 1000)
    got = taped(xs, xs[::-1])
    assert sorted(ranges) == [(0, 512), (512, 1000)] and threads_seen == {"symgrad-c"}  # the pool's threads
    for w, g in zip(compiled(xs, xs[::-1]), got):
        assert ulps(w, g).max() == 0


def test_strided_output_rows(threshold):
    """The kernel protocol allows output rows with a stride (OS != 1): they go through rows of the work area."""
    threshold(0)
    f = sg.compile([sg.sin(X) * Y, X + Y, sg.exp(X)], inputs=[X, Y], backend="c")
    xs, ys = np.linspace(-1, 1, 300), np.linspace(0, 2, 300)
    block = np.empty((300, 3))  # outputs as the columns of a (n, 3) array: stride 3
    f._array_fn([xs, ys], [block[:, k] for k in range(3)], 300)
    np.testing.assert_array_equal(block.T, np.array(f(xs, ys)))


def test_fast_math_runs_on_the_interpreter_and_does_not_depend_on_where_the_batch_ends(threshold):
    threshold(0)
    fast = sg.compile(_small_graph(), inputs=[X, Y], backend="c", fast_math=True)
    plain = sg.compile(_small_graph(), inputs=[X, Y], backend="c")
    assert "-ffast-math" in native.interpreter_flags(True) and "-ffast-math" not in native.interpreter_flags()
    xs = np.linspace(-3, 3, 1000)
    whole, part = fast(xs, xs / 2), fast(xs[:300], xs[:300] / 2)
    for w, p, q in zip(whole, part, plain(xs, xs / 2)):
        np.testing.assert_array_equal(np.asarray(w)[..., :300], p)
        np.testing.assert_allclose(w, q, rtol=1e-9, atol=1e-12)


# -- huge graphs ----------------------------------------------------------------------------------------


def _chain(x, steps: int):
    """``y <- 0.5 sin(y) + 0.9 y``, plus ``x`` every 7th step (benchmarks/workloads.gchain)."""
    y = x
    for k in range(steps):
        y = 0.5 * sg.sin(y) + 0.9 * y
        if k % 7 == 0:
            y = y + x
    return y


def _chain_gradient(x0: float, steps: int) -> float:
    """The chain's derivative by forward accumulation in plain Python."""
    y, dy = x0, 1.0
    for k in range(steps):
        y, dy = 0.5 * math.sin(y) + 0.9 * y, (0.5 * math.cos(y) + 0.9) * dy
        if k % 7 == 0:
            y, dy = y + x0, dy + 1.0
    return dy


def test_a_chain_gradient_on_the_interpreter(threshold):
    """~2,500 statements: past SIMD_STATEMENTS, so the compiled kernel calls libm too and must agree bit for bit."""
    threshold(50)
    g = sg.grad(lambda x: _chain(x, 200), backend="c")
    assert isinstance(g.kernel, c_tape.TapedKernel) and g.statement_count > 2000
    pts = np.array([0.3, -0.2, 1.7, -2.5, 0.0])
    got = g(pts)
    np.testing.assert_allclose(got, [_chain_gradient(p, 200) for p in pts], rtol=1e-12)
    assert g(0.3) == got[0]  # the scalar path goes through the interpreter too
    threshold(10**9)
    compiled = sg.grad(lambda x: _chain(x, 200), backend="c")
    assert isinstance(compiled.kernel, NativeKernel) and not compiled.kernel.simd
    assert compiled.statement_count == g.statement_count
    assert ulps(compiled(pts), got).max() == 0


def test_one_compile_serves_every_graph(threshold, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))  # a cold cache: the interpreter is really compiled
    native.BACKEND.clear_cache()
    calls = []
    real = native.run_compiler
    monkeypatch.setattr(native, "run_compiler", lambda argv: calls.append(argv) or real(argv))
    threshold(50)
    first = sg.grad(lambda x: _chain(x, 30), backend="c")
    second = sg.grad(lambda x: sg.cos(_chain(x, 40)) * x, backend="c")
    assert first(0.3) == pytest.approx(_chain_gradient(0.3, 30), rel=1e-12)
    assert second(0.3) != first(0.3)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.so"))) == 1
    native.BACKEND.clear_cache()  # a new process, as far as loading goes: the library comes from the disk cache
    third = sg.grad(lambda x: sg.sin(_chain(x, 35)), backend="c")
    assert np.isfinite(third(0.3)) and len(calls) == 1


def test_the_threshold_and_its_environment_variable(threshold, monkeypatch):
    e = _chain(X, 10)
    threshold(native.C_TAPE_STATEMENTS)  # the default: a small kernel is compiled
    assert native.C_TAPE_STATEMENTS == SIMD_STATEMENTS and isinstance(sg.compile(e, backend="c").kernel, NativeKernel)
    monkeypatch.setenv(native.C_TAPE_ENV, "5")
    taped = sg.compile(e, backend="c")
    assert isinstance(taped.kernel, c_tape.TapedKernel)
    monkeypatch.setenv(native.C_TAPE_ENV, "1_000_000_000")  # forces the per-graph compile
    assert isinstance(sg.compile(e, backend="c").kernel, NativeKernel)
    source = taped.source  # what the per-graph compile would build, after a note on how this kernel runs
    assert "tape interpreter" in source and f"c_kernel_{taped.kernel.graph_hash}_float64" in source
    assert "threshold of 5" in source
    for bad in ("lots", "-1"):
        monkeypatch.setenv(native.C_TAPE_ENV, bad)
        with pytest.raises(BackendError, match=native.C_TAPE_ENV):
            sg.compile(e, backend="c")


def test_without_a_compiler_a_taped_kernel_says_so(threshold, monkeypatch):
    threshold(0)
    with no_c_compiler(monkeypatch), pytest.raises(BackendError, match="C compiler"):
        sg.grad(lambda x: _chain(x, 5), backend="c")


def test_a_dataset_reduction_runs_its_per_sample_kernel_on_the_interpreter(threshold, monkeypatch):
    from symgrad.api import dataset

    monkeypatch.setattr(dataset, "C_PART_STATEMENTS", 0)  # as for a kernel too long for the fused reduction
    threshold(0)

    def loss(w, x, y):
        return (sg.tanh(w[0] * x + w[1]) - y) ** 2

    rng = np.random.default_rng(4)
    xs, ys, w = rng.normal(size=5000), rng.normal(size=5000), np.array([0.7, -0.2])
    on_c = sg.value_and_grad(loss, shapes={"w": (2,)}, data=("x", "y"), backend="c", threads=2)
    assert isinstance(on_c.kernel, c_tape.TapedKernel) and not on_c._fused
    on_numpy = sg.value_and_grad(loss, shapes={"w": (2,)}, data=("x", "y"))
    (v, g), (v0, g0) = on_c(w, xs, ys), on_numpy(w, xs, ys)
    assert v == pytest.approx(v0, rel=1e-12) and np.allclose(g, g0, rtol=1e-12)
