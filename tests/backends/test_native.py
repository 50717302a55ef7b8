"""The C and CUDA backends: the same printed kernel in two frames, checked without a GPU.

- ``backend="c"`` compiles the C frame with the system compiler and must agree with
  the numpy backend (shapes, conventions, values) on the notes' functions and on
  random expressions;
- the CUDA frame is compiled by ``nvcc`` (when it is on PATH, as on CI) and, unchanged,
  by the C++ compiler with stand-ins for the launch built-ins, then run on the CPU over
  a small grid, so its indexing and grid-stride loop are exercised;
- tests that need CuPy and a GPU are marked ``cuda`` and skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import X, Y, has_gpu, no_c_compiler, nvcc_ptx, smooth_expressions

import symgrad as sg
from symgrad.api.compiled import Compiled, _SlotLayout
from symgrad.backends import c as native
from symgrad.backends import cache
from symgrad.codegen.csource import generate_native
from symgrad.errors import BackendError
from symgrad.ir.builders import as_node
from symgrad.ir.evaluate import evaluate

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
NVCC = shutil.which("nvcc")


GPU = has_gpu()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA GPU")


# -- functions from the notes and friends, each with arguments ------------------------------


def f_n1(a):
    return 3 * a**3


def f_n5(x1, x2):
    return x1**3 + x2**2 + 4 * x1 * x2 + 5


def f_w2(x, y, z):
    return sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)


def f_kinks(x, y):
    return sg.abs(x) + sg.maximum(x, y) + sg.relu(y) + sg.where(x > 0, sg.sqrt(x), 0.0) * sg.sign(y)


def f_softmax_ce(z):
    return -sg.log_softmax(z)[1]


def f_linear(w, x):
    return sg.sum((w[0] * x + w[1] - 2.0 * x) ** 2)


CASES = [
    (f_n1, None, 1),
    (f_n5, None, 2),
    (f_w2, None, 3),
    (f_kinks, None, 2),
    (f_softmax_ce, {"z": (3,)}, 1),
    (f_linear, {"w": (2,), "x": (4,)}, 2),
]


def _args(shapes, nargs, fn, rng, batch=(7,)):
    import inspect

    names = list(inspect.signature(fn).parameters)[:nargs]
    return [rng.uniform(-1.5, 1.5, batch + tuple((shapes or {}).get(n, ()))) for n in names]


def _assert_same(got, want, rtol=1e-12):
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w, rtol)
        return
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


TRANSFORMS = {
    "compile": lambda fn, sh, be, **kw: sg.compile(fn, shapes=sh, backend=be, **kw),
    "grad": lambda fn, sh, be, **kw: sg.grad(fn, shapes=sh, backend=be, **kw),
    "value_and_grad": lambda fn, sh, be, **kw: sg.value_and_grad(fn, shapes=sh, backend=be, **kw),
    "jacobian": lambda fn, sh, be, **kw: sg.jacobian(fn, shapes=sh, backend=be, **kw),
    "hessian": lambda fn, sh, be, **kw: sg.hessian(fn, shapes=sh, backend=be, **kw),
    "third": lambda fn, sh, be, **kw: sg.derivative(fn, 3, shapes=sh, backend=be, **kw),
}


@needs_cc
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_c_backend_matches_numpy_on_every_transform(transform, case):
    fn, shapes, nargs = CASES[case]
    rng = np.random.default_rng(case)
    args = _args(shapes, nargs, fn, rng)
    want = TRANSFORMS[transform](fn, shapes, "numpy")(*args)
    c = TRANSFORMS[transform](fn, shapes, "c", verify=True)
    _assert_same(c(*args), want)
    if not shapes:  # plain floats: floats back, as the numpy backend's scalar path gives
        floats = [float(a[0]) for a in args]
        _assert_same(c(*floats), TRANSFORMS[transform](fn, shapes, "numpy")(*floats))


@needs_cc
def test_c_backend_jvp_vjp_hvp_match_numpy():
    rng = np.random.default_rng(5)
    p = tuple(rng.uniform(0.5, 1.5, (6,)) for _ in range(3))
    t = tuple(rng.uniform(-1, 1, (6,)) for _ in range(3))
    for be_kw in ({"backend": "c"},):
        _assert_same(sg.jvp(f_w2, p, t, **be_kw), sg.jvp(f_w2, p, t))
        _assert_same(sg.hvp(f_w2, p, t, **be_kw), sg.hvp(f_w2, p, t))
        value, back = sg.vjp(f_w2, *p, **be_kw)
        value_np, back_np = sg.vjp(f_w2, *p)
        _assert_same(value, value_np)
        _assert_same(back(np.ones(6)), back_np(np.ones(6)))


@needs_cc
def test_c_backend_float32_rounds_like_numpy_float32():
    rng = np.random.default_rng(1)
    args = [rng.uniform(0.5, 1.5, 1000).astype(np.float32) for _ in range(3)]
    h32 = sg.hessian(f_w2, argnums=(0, 1, 2), backend="c", dtype="float32", verify=True)
    h64 = sg.hessian(f_w2, argnums=(0, 1, 2), backend="numpy")
    got = h32(*args)
    want = h64(*(a.astype(float) for a in args))
    assert got[0][0].dtype == np.float32
    assert "float" in h32.source and "double" not in h32.source.split("typedef")[1].split(";")[0]
    for g_row, w_row in zip(got, want):
        for g, w in zip(g_row, w_row):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    # every literal of a float32 kernel is a float literal: nothing is promoted to double
    body = h32.source.split("for (sg_index i")[1]
    import re

    assert not re.search(r"(?<![\w.])\d+\.\d*(?![\w.f])", body)


@needs_cc
def test_c_backend_reads_strided_views_without_copies_and_broadcasts_scalars():
    rng = np.random.default_rng(2)
    points = rng.uniform(-1, 1, (50, 3))  # one point per row: each column is a stride-3 view
    g = sg.grad(f_w2, argnums=(0, 1, 2), backend="c")
    want = sg.grad(f_w2, argnums=(0, 1, 2))(*(np.ascontiguousarray(points[:, k]) for k in range(3)))
    _assert_same(g(points[:, 0], points[:, 1], points[:, 2]), want)
    transposed = points.T.copy().T  # Fortran-ordered copy: columns are contiguous, rows strided
    _assert_same(g(transposed[:, 0], transposed[:, 1], transposed[:, 2]), want)
    reversed_ = points[::-1]
    _assert_same(g(reversed_[:, 0], reversed_[:, 1], reversed_[:, 2]), tuple(w[::-1] for w in want))
    # a scalar broadcasts against the batch; a (5, 1) batch against a (4,) batch gives (5, 4)
    _assert_same(g(points[:, 0], 0.5, points[:, 2]), sg.grad(f_w2, argnums=(0, 1, 2))(points[:, 0], 0.5, points[:, 2]))
    a, b = rng.uniform(-1, 1, (5, 1)), rng.uniform(-1, 1, 4)
    _assert_same(g(a, b, 0.3), sg.grad(f_w2, argnums=(0, 1, 2))(a, b, 0.3))


@needs_cc
def test_c_backend_threads_split_the_batch_and_agree():
    rng = np.random.default_rng(3)
    args = [rng.uniform(0.5, 1.5, 100_003) for _ in range(3)]
    one = sg.hessian(f_w2, argnums=(0, 1, 2), backend="c")(*args)
    four = sg.hessian(f_w2, argnums=(0, 1, 2), backend="c", threads=4)(*args)
    _assert_same(four, one, rtol=0)
    with pytest.raises(sg.InputError, match="threads"):
        sg.grad(f_w2, backend="c", threads=0)


@needs_cc
def test_c_backend_nan_rules_follow_numpy():
    x, y = sg.symbols("x y")
    outs = [sg.maximum(x, y), sg.minimum(x, y), sg.relu(x), sg.sign(x), sg.log(x), sg.sqrt(x), 1 / x, sg.exp(x)]
    vals = np.array([np.nan, -1.0, 0.0, 2.0, np.inf, -np.inf, 800.0])
    yv = np.array([1.0, np.nan, 0.0, -np.inf, 1.0, 2.0, 1.0])
    with np.errstate(all="ignore"):
        want = sg.compile(outs, inputs=[x, y])(vals, yv)
        got = sg.compile(outs, inputs=[x, y], backend="c")(vals, yv)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@needs_cc
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(smooth_expressions(), min_size=12, max_size=12))
def test_c_and_emulated_cuda_agree_with_numpy_on_random_expressions(pairs):
    exprs = [e for e, _ in pairs]
    outs = [as_node(e) for e in exprs]
    outs = [o for e in outs for o in (e, *sg.gradient(e, [X, Y]), *sg.hessian(e, [X, Y]).reshape(-1))]
    pts = np.random.default_rng(4).uniform(-1.2, 1.2, (2, 33))
    want = np.array([np.broadcast_to(v, (33,)) for v in evaluate(outs, {X: pts[0], Y: pts[1]})])
    for backend in ("numpy", "c"):
        got = np.array([np.broadcast_to(v, (33,)) for v in sg.compile(outs, inputs=[X, Y], backend=backend)(*pts)])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    _assert_emulated_cuda(outs, [X, Y], pts, want)


def _assert_emulated_cuda(outs, inputs, pts, want, dtype="float64"):
    compiled = Compiled(sg.compile(outs, inputs=inputs).program)
    kernel = generate_native(compiled._inputs, compiled._slots, dtype, "cuda")
    run = native.EmulatedCudaKernel(kernel, grid=3, block=4)  # 12 threads over 33 points: 3 strides each
    n = pts.shape[1]
    layout = _SlotLayout(compiled._slots, None)  # the native kernels store every non-constant slot themselves
    block = layout.run(run, [np.ascontiguousarray(p, dtype=dtype) for p in pts], n, np.dtype(dtype))
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(block, want, rtol=tol, atol=tol)


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_emulated_cuda_runs_the_notes_functions(dtype):
    x, y, z = sg.symbols("x y z")
    f = f_w2(x, y, z) + f_kinks(x, y)
    outs = [f, *sg.gradient(f, [x, y, z]), *sg.hessian(f, [x, y, z]).reshape(-1)]
    pts = np.random.default_rng(6).uniform(-1.2, 1.2, (3, 33)).astype(dtype).astype(float)
    want = np.array([np.broadcast_to(v, (33,)) for v in evaluate(outs, dict(zip((x, y, z), pts)))])
    _assert_emulated_cuda(outs, [x, y, z], pts, want, dtype)


# -- the CUDA source itself --------------------------------------------------------------


def _cuda_corpus() -> list[str]:
    """CUDA kernels for the notes' functions under every transform, both dtypes, and every op."""
    sources = []
    for fn, shapes, _ in CASES:
        for transform in ("compile", "value_and_grad", "hessian", "third"):
            numpy_obj = TRANSFORMS[transform](fn, shapes, "numpy")
            for dtype in ("float64", "float32"):
                sources.append(generate_native(numpy_obj._inputs, numpy_obj._slots, dtype, "cuda").source)
    x, y = sg.symbols("x y")
    every_op = [
        sg.sin(x), sg.cos(x), sg.tan(x), sg.arcsin(x), sg.arccos(x), sg.arctan(x), sg.sinh(x), sg.cosh(x),
        sg.tanh(x), sg.exp(x), sg.expm1(x), sg.log(x), sg.log1p(x), sg.abs(x), sg.sign(x), sg.sigmoid(x),
        sg.relu(x), sg.stop_gradient(x) * y, sg.arctan2(x, y), sg.hypot(x, y), sg.maximum(x, y), sg.minimum(x, y),
        sg.where(x < y, x, y), sg.where(x <= y, 1.0, y), sg.where(x >= y, x, 2.0), x**y, x**2.5, x**-3, x / y,
        sg.sqrt(x), 1 / sg.sqrt(x), x * np.inf, x - np.inf, x * np.nan, x + 10**400, x * 1e300, x * 1e-50,
    ]  # fmt: skip
    for dtype in ("float64", "float32"):
        obj = sg.compile(every_op, inputs=[x, y])
        sources.append(generate_native(obj._inputs, obj._slots, dtype, "cuda").source)
    return sources


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
def test_nvcc_compiles_every_generated_cuda_kernel(tmp_path):
    files = []
    for i, source in enumerate(_cuda_corpus()):
        path = tmp_path / f"k{i}.cu"
        path.write_text(source)
        files.append(str(path))
    ptx = nvcc_ptx(NVCC, files, tmp_path)
    assert len(ptx) == len(files)
    assert all(".entry cuda_kernel_" in p for p in ptx)


def test_cuda_source_has_the_launch_frame_and_64_bit_indexing():
    g = sg.compile(f_w2)
    src = g.source_for("cuda")
    assert 'extern "C" __global__ void cuda_kernel_' in src
    assert "blockIdx.x" in src and "gridDim.x" in src and "i += step" in src
    assert "sg_index i = (sg_index)blockIdx.x" in src and "typedef long long sg_index;" in src
    # the per-point body is the very same printed lines as the C backend's (whose loop is vectorised)
    c_source = g.source_for("c")
    assert "#pragma omp simd\n    for (sg_index i = start; i < stop; ++i) {" in c_source
    c_body = c_source.split("for (sg_index i = start; i < stop; ++i) {")[1].split("\n    }\n")[0]
    cuda_body = src.split("i += step) {")[1].split("\n    }\n")[0]
    assert c_body == cuda_body and "O0[i * OS] = " in c_body


# -- errors and the cache ------------------------------------------------------------------


def test_cuda_backend_without_cupy_or_gpu_raises_a_clear_error():
    if GPU:
        pytest.skip("CuPy and a GPU are present here")
    with pytest.raises(BackendError, match="CuPy|GPU"):
        sg.grad(f_w2, backend="cuda")
    assert sg.grad(f_w2)(0.1, 0.2, 0.3) is not None  # the numpy backend is untouched


def test_unknown_backend_is_named():
    with pytest.raises(BackendError, match="'fortran'.*'numpy', 'c', 'cuda'"):
        sg.compile(f_w2, backend="fortran")


def test_c_backend_without_a_compiler_says_so(monkeypatch):
    with no_c_compiler(monkeypatch), pytest.raises(BackendError, match="C compiler"):
        sg.grad(f_w2, backend="c")


SOURCE = "double sg_probe(double x) { return 2.0 * x + %d; }\n"


def _probe(path: Path, k: int) -> float:
    import ctypes

    lib = ctypes.CDLL(str(path))
    lib.sg_probe.restype = ctypes.c_double
    lib.sg_probe.argtypes = [ctypes.c_double]
    return lib.sg_probe(1.5)


@needs_cc
def test_disk_cache_is_private_verified_and_rebuilds_corrupted_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    cache._resolve.cache_clear()
    try:
        flags = native.BASE_FLAGS
        first = native.compile_library(SOURCE % 1, flags)
        assert first.parent == tmp_path / "cache"
        assert (first.parent.stat().st_mode & 0o777) == 0o700
        manifests = list(first.parent.glob("*.json"))
        assert len(manifests) == 1 and json.loads(manifests[0].read_text())["file"] == first.name
        assert native.compile_library(SOURCE % 1, flags) == first  # a hit: same verified file
        assert native.compile_library(SOURCE % 2, flags) != first  # the key covers the source...
        assert native.compile_library(SOURCE % 1, flags + ("-g",)) != first  # ...and the flags
        first.write_bytes(first.read_bytes()[:100])  # truncated: must be detected, never loaded
        rebuilt = native.compile_library(SOURCE % 1, flags)
        assert _probe(rebuilt, 1) == 4.0
        manifests[0].write_text("{not json")  # a corrupted manifest: rebuilt too
        assert _probe(native.compile_library(SOURCE % 1, flags), 1) == 4.0
    finally:
        cache._resolve.cache_clear()


@needs_cc
def test_disk_cache_refuses_a_directory_others_can_write(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(shared))
    cache._resolve.cache_clear()
    try:
        assert cache.cache_dir() != shared
        assert (cache.cache_dir().stat().st_mode & 0o077) == 0
    finally:
        cache._resolve.cache_clear()


WRITER = """
import sys
from symgrad.backends import c as native
path = native.compile_library(sys.argv[1], native.BASE_FLAGS)
print(path)
"""


@needs_cc
def test_disk_cache_survives_concurrent_writers(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"))
    source = SOURCE % 7 + "/* concurrent */\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, source], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    paths = [Path(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for path in set(paths):
        assert _probe(path, 7) == 10.0
    assert not list((tmp_path / "cache").glob(".tmp-*"))  # no temporary file left behind
    record = json.loads(next((tmp_path / "cache").glob("*.json")).read_text())
    assert (tmp_path / "cache" / record["file"]).exists()


# -- sparse Hessians -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_cc)])
def test_sparse_hessian_returns_only_structural_nonzeros(backend):
    def chain(x):
        return sg.sum(x[:-1] ** 2 * x[1:]) + sg.sin(x[0]) + 3.0 * x[-1]

    n = 40
    h = sg.hessian(chain, shapes={"x": (n,)}, sparse=True, backend=backend)
    pts = np.random.default_rng(7).uniform(-1, 1, (9, n))
    sparse = h(pts)
    dense = sg.hessian(chain, shapes={"x": (n,)})(pts)
    assert sparse.values.shape == (9, len(sparse.rows))
    assert np.all(sparse.rows <= sparse.cols)
    assert len(sparse.rows) == 2 * (n - 1)  # the diagonal but its last entry, and the band above it
    nz = np.argwhere(np.any(dense != 0, axis=0))
    assert {(i, j) for i, j in nz if i <= j} <= set(zip(sparse.rows, sparse.cols))
    np.testing.assert_allclose(sparse.todense(), dense, rtol=1e-12)


# -- on a GPU ------------------------------------------------------------------------------


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_matches_numpy_on_every_transform(dtype):
    from symgrad.backends import cuda

    cp = cuda.cupy()
    rng = np.random.default_rng(8)
    for fn, shapes, nargs in CASES:
        args = _args(shapes, nargs, fn, rng, batch=(1000,))
        for transform in sorted(TRANSFORMS):
            want = TRANSFORMS[transform](fn, shapes, "numpy", dtype=dtype)(*args)
            gpu = TRANSFORMS[transform](fn, shapes, "cuda", dtype=dtype, verify=True)
            got = gpu(*(cp.asarray(a) for a in args))
            tol = 1e-10 if dtype == "float64" else 1e-3
            flat_got = got if isinstance(got, (tuple, list)) else (got,)
            flat_want = want if isinstance(want, (tuple, list)) else (want,)
            for g, w in zip(flat_got, flat_want):
                np.testing.assert_allclose(cp.asnumpy(g) if not isinstance(g, tuple) else g, w, rtol=tol, atol=tol)


@pytest.mark.cuda
@needs_gpu
def test_gpu_reads_strided_views_and_numpy_inputs():
    from symgrad.backends import cuda

    cp = cuda.cupy()
    pts = np.random.default_rng(9).uniform(-1, 1, (100_001, 3))
    g = sg.grad(f_w2, argnums=(0, 1, 2), backend="cuda")
    want = sg.grad(f_w2, argnums=(0, 1, 2))(pts[:, 0], pts[:, 1], pts[:, 2])
    dev = cp.asarray(pts)
    for got in (g(dev[:, 0], dev[:, 1], dev[:, 2]), g(pts[:, 0], pts[:, 1], pts[:, 2])):
        for a, b in zip(got, want):
            assert isinstance(a, cp.ndarray)
            np.testing.assert_allclose(cp.asnumpy(a), b, rtol=1e-12)
