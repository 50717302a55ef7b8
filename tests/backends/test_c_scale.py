"""The C backend on long kernels and its vectorised loops.

- a kernel cut into part functions and translation units (values across a cut
  through the scratch array) computes exactly what the uncut kernel computes;
- the vectorised loop (vector libm variants where vecmath found them) stays
  within 2 ulp of the scalar libm loop, on every function of the table;
- a kernel of tens of thousands of statements compiles in seconds (10^5 with
  SYMGRAD_SLOW=1).
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import c as native
from symgrad.backends import vecmath
from symgrad.codegen import csource
from symgrad.ir.builders import as_node

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
X, Y = sg.symbols("x y")


def _w2_like():
    e = sg.sin(X * Y) * sg.exp(-(Y**2)) + sg.log(1 + X**2 + Y**2) * sg.tanh(Y) + X * Y / (1 + X**2)
    e = e + sg.where(X > Y, sg.sigmoid(X), sg.relu(Y)) + sg.maximum(X, 2.0) + sg.arctan2(X, 1 + Y**2)
    return [e, *sg.gradient(e, [X, Y]), *sg.hessian(e, [X, Y]).reshape(-1), 2.0, X, e]


def _points(n: int, dtype: str = "float64"):
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-3, 3, (2, n))
    a[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 700.0]
    return a.astype(dtype), b.astype(dtype)


def test_cut_c_kernel_equals_the_uncut_one(monkeypatch, vector_math):
    vector_math("none")  # libm everywhere: the cut and uncut loops must then agree bit for bit
    outs = _w2_like()
    whole = sg.compile(outs, inputs=[X, Y], backend="c")
    monkeypatch.setattr(csource, "C_PART_STATEMENTS", 7)
    monkeypatch.setattr(csource, "UNIT_STATEMENTS", 20)
    cut = sg.compile(outs, inputs=[X, Y], backend="c", threads=2)
    assert len(cut.kernel.units) > 3 and cut.kernel.scratch > 0 and not whole.kernel.units
    a, b = _points(20_011)
    with np.errstate(all="ignore"):
        for args in ((a, b), (a, 0.25), (a[::3], b[::3]), (0.3, 0.7)):
            for g, w in zip(cut(*args), whole(*args), strict=True):
                np.testing.assert_array_equal(g, w)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place (0 where both are the same nan or inf).

    In integers: float64 holds a double's bit pattern (~4.6e18 near 1.0) only to 1024, so a 1-ulp
    difference came out as 0 or 1024.
    """
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    top = np.int64(np.iinfo(ints).min)
    ia, ib = np.where(ia < 0, top - ia, ia), np.where(ib < 0, top - ib, ib)  # monotonic in the value
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(over="ignore"):  # values of opposite signs far apart wrap: still far more than 2
        d = np.abs(ia - ib).astype(np.float64)
    return np.where(same, 0.0, np.where(d < 0, np.inf, d))


FUNCTIONS = {
    "sin": lambda x: sg.sin(x * 40),
    "cos": lambda x: sg.cos(x * 40),
    "tan": sg.tan,
    "asin": lambda x: sg.arcsin(x / 3),
    "acos": lambda x: sg.arccos(x / 3),
    "atan": lambda x: sg.arctan(x * 10),
    "sinh": lambda x: sg.sinh(x * 10),
    "cosh": lambda x: sg.cosh(x * 10),
    "tanh": lambda x: sg.tanh(x * 5),
    "exp": lambda x: sg.exp(x * 20),
    "expm1": lambda x: sg.expm1(x * 3),
    "log": lambda x: sg.log(x * 30 + 90),
    "log1p": lambda x: sg.log1p(x + 2),
    "atan2": lambda x: sg.arctan2(x, Y),
    "hypot": lambda x: sg.hypot(x, Y),
    "pow": lambda x: (x + 3) ** Y,
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vectorised_loop_is_within_2_ulp_of_the_scalar_one(dtype, vector_math):
    if vecmath.library() == "none":
        pytest.skip("no vector math library here (SLEEF's libsleefgnuabi or glibc's libmvec)")
    outs = [f(X) for f in FUNCTIONS.values()] + _w2_like()
    vector = sg.compile(outs, inputs=[X, Y], backend="c", dtype=dtype)
    assert vector.kernel.vector_math == vecmath.functions(dtype)
    vector_math("none")
    scalar = sg.compile(outs, inputs=[X, Y], backend="c", dtype=dtype)
    assert scalar.kernel.vector_math == () and scalar.source != vector.source
    a, b = _points(50_000, dtype)
    with np.errstate(all="ignore"):
        got, want = vector(a, b), scalar(a, b)
    worst = {str(o)[:40]: float(_ulps(g, w).max()) for o, g, w in zip(outs, got, want)}
    assert max(worst.values()) <= 2, worst


def test_vector_math_is_declared_and_linked_only_where_found(vector_math):
    vector_math("none")
    slots = [as_node(o) for o in _w2_like()]
    kernel = native.BACKEND.generate([X, Y], slots, "float64")
    assert "declare simd" not in kernel.source and "#pragma omp simd" in kernel.source
    assert not any(f.startswith("-l") for f in native.kernel_flags(kernel))
    vector_math("mvec")
    kernel = native.BACKEND.generate([X, Y], slots, "float64")
    assert "extern double (log)(double);" in kernel.source and "(sin)" not in kernel.source  # sin: 3 ulp in libmvec
    assert "-lmvec" in native.kernel_flags(kernel) and "-ffp-contract=off" in native.kernel_flags(kernel)
    assert "-ffast-math" in native.kernel_flags(kernel, fast_math=True)


def _chain(steps: int):
    y = X
    for _ in range(steps):
        y = sg.sin(y) * 1e-5 + y
    return y


def _chain_value(x0: float, steps: int) -> float:
    for _ in range(steps):
        x0 = np.sin(x0) * 1e-5 + x0
    return x0


def _compile_long_chain(steps: int, limit: float, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))  # a cold cache: really compiled
    monkeypatch.setenv(native.C_TAPE_ENV, str(10**9))  # the per-graph compile, not the tape interpreter
    f = sg.compile(_chain(steps), inputs=[X], backend="c", threads=2)
    assert f.kernel.units and not f.kernel.simd
    t0 = time.perf_counter()
    got = f(np.array([0.3, -0.2] * 5000))
    elapsed = time.perf_counter() - t0
    np.testing.assert_allclose(got[:2], [_chain_value(0.3, steps), _chain_value(-0.2, steps)], rtol=1e-12)
    assert elapsed < limit, f"{f.statement_count} statements took {elapsed:.1f} s to compile"


def test_twenty_thousand_statement_kernel_compiles_in_seconds(tmp_path, monkeypatch):
    _compile_long_chain(7_000, 60, tmp_path, monkeypatch)  # ~5 s here, two compilers at once


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SYMGRAD_SLOW"), reason="set SYMGRAD_SLOW=1: a minute of CPU")
def test_hundred_thousand_statement_kernel_compiles_in_thirty_seconds(tmp_path, monkeypatch):
    _compile_long_chain(34_000, 30 if os.cpu_count() and os.cpu_count() >= 2 else 60, tmp_path, monkeypatch)


def test_the_optimisation_level_falls_with_the_kernels_length():
    """-O3 and vectorised up to SIMD_STATEMENTS, -O1 up to O0_STATEMENTS, -O0 past it (compile time bounded)."""
    levels = {}
    for steps in (10, 1_000, 8_000):
        kernel = csource.generate_native([X], [_chain(steps)], "float64", "c")
        level = next(f for f in native.kernel_flags(kernel) if f.startswith("-O"))
        levels[kernel.steps] = (level, kernel.simd)
        assert "-ffp-contract=off" in native.kernel_flags(kernel)  # every level rounds each operation as written
    by_size = sorted(levels.items())
    assert by_size[0][1] == ("-O3", True) and by_size[0][0] <= csource.SIMD_STATEMENTS
    assert by_size[1][1] == ("-O1", False) and by_size[1][0] <= native.O0_STATEMENTS
    assert by_size[2][1] == ("-O0", False) and by_size[2][0] > native.O0_STATEMENTS


def test_an_o0_kernel_computes_what_the_o1_kernel_computes(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(native.C_TAPE_ENV, str(10**9))  # compiled, at -O0 and then -O1
    y = _chain(8_000)
    pts = np.array([0.3, -0.2, 1.7, np.nan, 700.0])
    at_o0 = sg.compile(y, inputs=[X], backend="c")(pts)
    monkeypatch.setattr(native, "O0_STATEMENTS", 10**9)
    at_o1 = sg.compile(y, inputs=[X], backend="c")(pts)
    np.testing.assert_array_equal(at_o0, at_o1)  # bit for bit
    assert at_o0[0] == pytest.approx(_chain_value(0.3, 8_000), rel=1e-12)
