"""The numpy backend's instruction tape: the same values as the printed kernel, without CPython's compiler.

Past ``TAPE_STATEMENTS`` steps the numpy backend runs a tape (opcodes and operand
slots) instead of printed source, and so does its scalar path (printed as straight-line
code from the tape after its first calls, up to ``STRAIGHT_LINE_INSTRUCTIONS`` instructions).
These tests lower TAPE_STATEMENTS to -1 so small random graphs run on both, and hold the
tape to the printed kernel bit for bit (the same ufuncs in the same order): values, nan/inf, float32, constant and
repeated output slots, numpy's warnings policy and ``verify=True``.  A kernel of
10^5 statements must be ready in seconds.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import EXTRA_BINARY, EXTRA_UNARY, SMOOTH_BINARY, SMOOTH_UNARY, SX, SY, X, Y, examples, expressions

import symgrad as sg
from symgrad.backends.pyload import load_python
from symgrad.backends.tape import TIER_CALLS, TapeScalar
from symgrad.codegen import kernel as codegen
from symgrad.codegen.tape import OPCODES, op_function, straight_line_source
from symgrad.ir.ops import OPS

UNARY = {**SMOOTH_UNARY, **EXTRA_UNARY}
BINARY = {**SMOOTH_BINARY, **EXTRA_BINARY}
LEAVES = st.one_of(st.sampled_from([(X, SX), (Y, SY), (X * Y, SX * SY)]), st.sampled_from([(-2.0, -2), (0.5, 0.5)]))
GRAPHS = expressions(UNARY, BINARY, LEAVES, max_leaves=10)


def _points(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    a, b = rng.uniform(-3, 3, (2, 9000)).astype(dtype)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -1e-39, 700.0]).astype(dtype)
    a[: special.size], b[3 : 3 + special.size] = special, special
    return a, b


def _both(outs, dtype: str, monkeypatch, **options):
    with np.errstate(all="ignore"):  # the suite's SYMGRAD_VERIFY=1 runs both at random points, some outside a domain
        source = sg.compile(outs, inputs=[X, Y], dtype=dtype, **options)
        monkeypatch.setattr(codegen, "TAPE_STATEMENTS", -1)
        tape = sg.compile(outs, inputs=[X, Y], dtype=dtype, **options)
        monkeypatch.undo()
    assert source.kernel.tape is None and tape.kernel.tape is not None
    return source, tape


def _assert_identical(got, want) -> None:
    for g, w in zip(got, want, strict=True):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)  # nan == nan here; bit for bit otherwise


@settings(max_examples=examples(25), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(GRAPHS, min_size=3, max_size=3), st.sampled_from(["float64", "float32"]))
def test_tape_equals_the_printed_kernel_on_random_graphs(pairs, dtype):
    outs = []
    for e, _ in pairs:
        outs += [e, *sg.gradient(e, [X, Y])]
    outs += [2.5, outs[0], X, 0.0, outs[1]]  # constant slots, repeated slots, an input as an output
    with pytest.MonkeyPatch.context() as mp:
        source, tape = _both(outs, dtype, mp)
    a, b = _points(dtype)
    with np.errstate(all="ignore"):
        _assert_identical(tape(a, b), source(a, b))
        _assert_identical(tape(a[:3], 0.25), source(a[:3], 0.25))  # a broadcast scalar, a short batch
        scalar, printed = tape(0.3, -0.7), source(0.3, -0.7)
    # the scalar path: Python's math on both (numpy's ufuncs on the tape in float32)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(np.array(scalar, dtype=float), np.array(printed, dtype=float), rtol=rtol, atol=rtol)


def test_every_op_of_the_table_has_an_opcode_and_agrees(monkeypatch):
    x, y = X, Y
    every = [
        sg.sin(x), sg.cos(x), sg.tan(x), sg.arcsin(x / 4), sg.arccos(x / 4), sg.arctan(x), sg.sinh(x), sg.cosh(x),
        sg.tanh(x), sg.exp(x), sg.expm1(x), sg.log(x), sg.log1p(x), sg.abs(x), sg.sign(x), sg.sigmoid(x),
        sg.relu(x), sg.stop_gradient(x) * y, sg.arctan2(x, y), sg.maximum(x, y), sg.minimum(x, y), sg.erf(x),
        sg.hypot(x, y), x + 10**400,
        sg.where(x < y, x, y), sg.where(x <= y, 1.0, y), sg.where(x >= y, x, 2.0), sg.where(x > y, x, y),
        x**y, x**2.5, x**-3, x**-4, x**4, x**0.5, x**-0.5, x**1.5, x / y, -x - y, 1 / x - 1 / y, x * np.inf,
        sg.sin(x) - 1 / (1 + x**2), x * y - y / (1 + x**2),  # a reciprocal inside a negation, both absorbed
    ]  # fmt: skip
    assert {op for op in OPS if op not in ("add", "mul", "pow")} <= set(OPCODES)
    assert all(callable(op_function(op)) for op in OPS if op not in ("add", "mul", "pow"))
    for dtype in ("float64", "float32"):
        source, tape = _both(every, dtype, monkeypatch)
        a, b = _points(dtype)
        with np.errstate(all="ignore"):
            _assert_identical(tape(a, b), source(a, b))


def test_taped_scalar_path_runs_on_python_floats(monkeypatch):
    """float64: one point goes through the tape as Python floats (no numpy call), within 2 ulp of the printed path."""
    every = [
        sg.sin(X), sg.tan(X), sg.arcsin(X / 4), sg.tanh(X), sg.exp(X), sg.log(X), sg.log1p(X), sg.sigmoid(X),
        sg.erf(X), sg.arctan2(X, Y), sg.where(X < Y, X, Y), X**Y, X**2.5, X**-3, X**4, X**0.5, X**-0.5, X**1.5,
        X**7, X / Y, -X - Y, 1 / X - 1 / Y, X * Y - Y / (1 + X**2),
    ]  # fmt: skip
    source, tape = _both(every, "float64", monkeypatch)
    rng = np.random.default_rng(3)
    points = [(float(a), float(b)) for a, b in rng.uniform(0.1, 3.0, (50, 2))]
    want = np.array([source(a, b) for a, b in points])

    def no_numpy(*args, **kwargs):
        raise AssertionError("the scalar path called the numpy tape")

    monkeypatch.setattr(type(tape._array_fn), "__call__", no_numpy)
    got = np.array([tape(a, b) for a, b in points])
    assert all(type(v) is float for v in tape(*points[0]))
    assert np.all(np.abs(got - want) <= 2 * np.spacing(np.abs(want)))
    monkeypatch.undo()
    with np.errstate(all="ignore"):  # a domain error and a non-finite value: numpy's answer, from the numpy tape
        assert np.isnan(tape(-1.0, 2.0)[5]) and tape(0.0, 2.0)[5] == -np.inf


def test_mid_sized_kernels_run_floats_on_the_tape_then_on_its_straight_line_code():
    """Past TAPE_STATEMENTS nothing is printed at build or first call; floats called again and again tier up."""
    e = X
    for _ in range(40):
        e = sg.sin(e) * 0.5 + Y * e
    f = sg.compile([e, *sg.gradient(e, [X, Y])], inputs=[X, Y])
    assert codegen.TAPE_STATEMENTS < f.statement_count
    assert f.kernel.tape is not None and not f.kernel.numpy_parts
    a = np.linspace(-1.0, 1.0, 7)
    arrays = f(a, 0.25)
    on_tape = [f(float(v), 0.25) for v in a]
    scalar = f._scalar_fn
    assert scalar.straight is None  # the first calls: the tape's per-opcode functions, nothing compiled
    for _ in range(TIER_CALLS):
        f(0.1, 0.2)
    assert scalar.straight  # tiered up: the tape printed as one straight-line function
    straight = [f(float(v), 0.25) for v in a]
    assert straight == on_tape  # the same bits either way
    assert all(type(v) is float for v in straight[0])
    np.testing.assert_allclose(np.array(straight).T, np.array(arrays), rtol=1e-13)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(GRAPHS, min_size=3, max_size=3))
def test_straight_line_code_gives_the_tapes_float_bits_on_random_graphs(pairs):
    outs = [node for node, _ in pairs]
    with pytest.MonkeyPatch.context() as patch, np.errstate(all="ignore"):
        patch.setattr(codegen, "TAPE_STATEMENTS", -1)  # small graphs: on the tape all the same
        tape = sg.compile(outs, inputs=[X, Y]).kernel.tape
    straight = load_python(straight_line_source(tape, "straight"), "straight")
    for a, b in zip(*_points("float64")[:2]):
        a, b = float(a), float(b)
        try:
            want = TapeScalar._on_tape(tape, (a, b))
        except (ArithmeticError, ValueError) as exc:
            with pytest.raises(type(exc)):
                straight(a, b)
            continue
        got = straight(a, b)
        assert [x.hex() for x in got] == [x.hex() for x in want]  # bit for bit, nan and signed zeros included


def test_tape_follows_numpys_warning_policy(monkeypatch):
    source, tape = _both([sg.log(X) + Y, X / Y], "float64", monkeypatch)
    for f in (source, tape):
        with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
            f(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
        with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
            f(0.0, 1.0)  # the scalar path too
        with pytest.warns(RuntimeWarning):
            f(np.array([-1.0]), np.array([1.0]))
        with np.errstate(all="ignore"):
            assert np.isnan(f(-1.0, 1.0)[0])


def test_taped_kernel_verifies_and_reports_its_source(monkeypatch):
    monkeypatch.setattr(codegen, "TAPE_STATEMENTS", -1)
    f = sg.grad(lambda x, y: sg.sin(x * y) * sg.exp(-(y**2)) + x**3, argnums=(0, 1), verify=True)
    assert f.kernel.tape is not None
    assert "instruction tape" in f.source and "np.sin(" in f.source  # what the tape executes, printed on demand
    want = (
        0.7 * np.cos(0.21) * np.exp(-0.49) + 3 * 0.09,
        0.3 * np.cos(0.21) * np.exp(-0.49) - 1.4 * np.sin(0.21) * np.exp(-0.49),
    )
    assert f(0.3, 0.7) == pytest.approx(want, rel=1e-13)
    assert all(type(v) is float for v in f(0.3, 0.7))
    np.testing.assert_allclose([g[0] for g in f(np.array([0.3, 1.0]), 0.7)], want, rtol=1e-13)


def _forward_chain(steps: int):
    y = X
    for _ in range(steps):
        y = sg.sin(y) * 1e-5 + y
    return y


def test_a_hundred_thousand_statement_kernel_is_ready_in_seconds():
    y = _forward_chain(34_000)  # 3 statements a step
    t0 = time.perf_counter()
    f = sg.compile(y, inputs=[X])
    value = f(np.full(4, 0.3))
    scalar = f(0.3)
    elapsed = time.perf_counter() - t0
    assert f.statement_count >= 100_000 and f.kernel.tape is not None
    want = 0.3
    for _ in range(34_000):
        want = np.sin(want) * 1e-5 + want
    np.testing.assert_allclose(value, want, rtol=1e-12)
    assert scalar == pytest.approx(want, rel=1e-12)
    assert elapsed < 20, f"generate + first calls took {elapsed:.1f} s"  # ~2 s here; printed + compiled: ~10 s
