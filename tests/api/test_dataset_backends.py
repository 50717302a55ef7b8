"""Losses over a dataset beyond numpy: Dask arrays (threaded and distributed), the fused CUDA reduction.

- Dask: datasets split in several uneven chunks give the numpy result, on the local
  threaded scheduler and on a ``dask.distributed.LocalCluster`` of 2 worker processes
  (the compiled object is pickled to them and rebuilt);
- CUDA: the fused map + block-reduction kernel is compiled by ``nvcc --ptx`` (when it
  is on PATH) and, unchanged, emulated on the CPU with real threads per block; the
  GPU tests are marked ``cuda`` and skipped without one.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from oracle import has_gpu, nvcc_ptx
from test_dataset import B0, CE_SHAPES, SHAPES, W0, D, class_data, cross_entropy, linear_data, mse

import symgrad as sg
from symgrad.backends.cuda_reduce import EmulatedCudaReduce
from symgrad.codegen.csource import generate_native
from symgrad.codegen.reduce_source import generate_reduce

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
NVCC = shutil.which("nvcc")
CHUNKS = (3000, 2500, 4000, 1, 506)  # uneven, one of a single sample
N = sum(CHUNKS)


def _flat(result) -> np.ndarray:
    """A (value, aux), grads result as one flat array."""
    (value, aux), g = result
    return np.array([value, aux, *g["W"].ravel(), *g["b"]])


@pytest.fixture(scope="module")
def ce_case():
    params, X, Y = class_data(N)
    V = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True)
    return V, params, X, Y, _flat(V(params, X, Y))


# -- Dask -----------------------------------------------------------------------------------


def test_dask_threaded_equals_numpy_on_uneven_chunks(ce_case):
    da = pytest.importorskip("dask.array")
    V, params, X, Y, want = ce_case
    dX = da.from_array(X, chunks=(CHUNKS, -1))
    dY = da.from_array(Y, chunks=(1234, -1))  # chunked differently: rechunked like the first data argument
    got = _flat(V(params, dX, dY))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(_flat(V(params, dX, dY)), got)  # the same tree every time
    np.testing.assert_allclose(_flat(V(params, dX, Y)), want, rtol=1e-12, atol=1e-15)  # numpy data joins in


@needs_cc
def test_dask_with_the_c_backend_and_lazy_data():
    da = pytest.importorskip("dask.array")
    X, Y = linear_data(N)
    G = sg.grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend="c")
    want_w, want_b = G(W0, B0, X, Y)
    dX = da.from_array(X, chunks=(CHUNKS, -1)) * 1.0  # a lazy expression, not just stored blocks
    got_w, got_b = G(W0, B0, dX, da.from_array(Y, chunks=(CHUNKS,)))
    np.testing.assert_allclose(got_w, want_w, rtol=1e-12)
    assert np.isclose(got_b, want_b, rtol=1e-12)


def test_dask_bad_shapes_fail_before_computing():
    da = pytest.importorskip("dask.array")
    X, Y = linear_data(100)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    with pytest.raises(sg.ShapeError, match=r"different numbers of samples: x \(100, 3\), y \(99,\)"):
        L(W0, B0, da.from_array(X, chunks=30), da.from_array(Y[:-1], chunks=30))


def test_dask_data_of_unknown_length_is_called_unknown_not_different():
    da = pytest.importorskip("dask.array")
    X, Y = linear_data(100)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    keep = da.from_array(Y > np.median(Y), chunks=30)
    for y in (da.from_array(Y, chunks=30)[keep], Y[Y > np.median(Y)]):  # nan != nan: once said "different"
        with pytest.raises(sg.InputError, match=r"unknown number of samples \(x \(nan, 3\), y"):
            L(W0, B0, da.from_array(X, chunks=(30, 3))[keep], y)


def test_dask_distributed_local_cluster_equals_numpy(ce_case):
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("dask.distributed")
    import dask.array as da

    V, params, X, Y, want = ce_case
    dX = da.from_array(X, chunks=(CHUNKS, -1))
    dY = da.from_array(Y, chunks=(CHUNKS, -1))
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        got = _flat(V(params, dX, dY))
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# -- C: the fused reduction ------------------------------------------------------------------


@needs_cc
def test_c_backend_sums_in_the_kernel_and_never_stores_per_sample_outputs():
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend="c")
    assert "#pragma omp simd reduction(+: a0, a1, a2, a3, a4)" in V.source and "O0[" not in V.source
    assert V.source == V.source_for("c") and "sg_block_sum" in V.source_for("cuda")
    V.verify()  # the fused kernel against the reference interpreter
    right = V._fused_kernel.bind
    V._fused_kernel.bind = lambda columns: lambda lo, hi: right(columns)(lo, hi) + 1.0
    with pytest.raises(sg.VerificationError, match="the fused C reduction computed"):
        V.verify()


@needs_cc
def test_c_fused_long_kernel_and_numpy_paths_agree(monkeypatch):
    from symgrad.api import dataset

    params, X, Y = class_data(5003)
    build = lambda backend: sg.value_and_grad(
        cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True, backend=backend
    )
    fused, numpy_path = _flat(build("c")(params, X, Y)), _flat(build("numpy")(params, X, Y))
    monkeypatch.setattr(dataset, "C_PART_STATEMENTS", 0)  # as for a kernel too long for one function
    cut = build("c")
    assert not cut._fused
    np.testing.assert_allclose(fused, numpy_path, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_flat(cut(params, X, Y)), numpy_path, rtol=1e-12, atol=1e-15)


@needs_cc
def test_c_fused_results_do_not_depend_on_where_the_data_lies_or_its_dtype():
    X, Y = linear_data(20_011)
    G = sg.grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend="c")
    want_w, want_b = G(W0, B0, X, Y)
    moved = np.empty((len(Y) + 1, D))[1:]  # another address, another alignment
    moved[...] = X
    got_w, got_b = G(W0, B0, moved, Y.copy())
    np.testing.assert_array_equal(got_w, want_w)
    assert got_b == want_b
    labels_w, labels_b = G(W0, B0, X.astype(np.float32), Y)  # converted chunk by chunk
    np.testing.assert_allclose(labels_w, G(W0, B0, X.astype(np.float32).astype(float), Y)[0], rtol=1e-13)
    assert np.isclose(labels_b, want_b, rtol=1e-5)


# -- CUDA: the fused kernel, emulated and compiled ------------------------------------------


def _emulated(V, args, n, block=8, grid=3, dtype="float64"):
    kernel = generate_reduce(V._inputs, V._slots, dtype, block=block)
    arrays, batch = V._prepare(args, np)
    return EmulatedCudaReduce(kernel, grid).totals(V._columns(arrays, batch, np), n)


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_emulated_cuda_reduction_equals_the_numpy_sums(ce_case, dtype):
    V, params, X, Y, _ = ce_case
    leaves = [params["W"], params["b"], X, Y]
    want = V.partial(list(leaves), N).total()
    V32 = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True, dtype=dtype)
    args = [a.astype(dtype) for a in leaves]
    got = _emulated(V32, args, N, dtype=dtype)
    tol = 1e-12 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * N)
    np.testing.assert_array_equal(_emulated(V32, args, N, dtype=dtype), got)  # deterministic


@needs_cc
@pytest.mark.parametrize("n", [1, 7, 24, 25])
def test_emulated_cuda_reduction_covers_every_point_of_the_grid_stride_loop(n):
    X, Y = linear_data(n)
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"))
    want = V.partial([W0, np.float64(B0), X, Y], n).total()
    np.testing.assert_allclose(_emulated(V, [W0, B0, X, Y], n, block=4, grid=2), want, rtol=1e-13)


def test_reduce_kernel_runs_the_same_per_point_body_as_the_cuda_kernel():
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"))
    reduce_src = V.source_for("cuda")
    map_src = generate_native(V._inputs, V._slots, "float64", "cuda").source
    body = map_src.split("i += step) {")[1].split("        O0[")[0]
    assert body and body in reduce_src
    assert reduce_src.count("sg_block_sum(a") == 1 + D + 1  # one block sum per distinct output
    assert "atomicAdd" not in reduce_src and "__shared__ sg_acc sh[SG_BLOCK];" in reduce_src


def test_constant_outputs_are_summed_on_the_host():
    x = sg.symbols("x")
    E = sg.compile([x * 2.0, 3.0 + 0 * x], inputs=[x], data="x", reduce="sum")
    assert E(np.arange(4.0)) == (12.0, 12.0)
    kernel = generate_reduce(E._inputs, E._slots, "float64")
    assert kernel.n_sums == 1 and kernel.slot_sum == (0, -1)


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
def test_nvcc_compiles_the_fused_reduction_kernels(tmp_path):
    files = []
    for fn, shapes, kw in [(mse, SHAPES, {"argnums": (0, 1)}), (cross_entropy, CE_SHAPES, {"has_aux": True})]:
        V = sg.value_and_grad(fn, shapes=shapes, data=("x", "y"), **kw)
        for dtype in ("float64", "float32"):
            path = tmp_path / f"r{len(files)}.cu"
            path.write_text(generate_reduce(V._inputs, V._slots, dtype).source)
            files.append(str(path))
    ptx = nvcc_ptx(NVCC, files, tmp_path)
    assert len(ptx) == len(files) and all(".entry cuda_reduce_" in p and ".shared" in p for p in ptx)


@pytest.mark.cuda
@pytest.mark.skipif(not has_gpu(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_fused_reduction_equals_numpy_and_is_deterministic(ce_case, dtype):
    from symgrad.backends import cuda

    cp = cuda.cupy()
    _, params, X, Y, want = ce_case
    V = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True, backend="cuda", dtype=dtype)
    p = {k: cp.asarray(v.astype(dtype)) for k, v in params.items()}
    dX, dY = cp.asarray(X.astype(dtype)), cp.asarray(Y.astype(dtype))
    got = _flat(V(p, dX, dY))
    tol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(_flat(V(p, dX, dY)), got)
    np.testing.assert_allclose(_flat(V(params, X, Y)), got, rtol=tol, atol=tol)  # host arrays are copied over


# -- the benchmark driver, at a tiny size -----------------------------------------------------


@needs_cc
def test_benchmark_driver_runs_and_checks_every_peer(monkeypatch):
    import importlib.util
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    monkeypatch.syspath_prepend(str(bench))
    spec = importlib.util.spec_from_file_location("benchmarks_dataset", bench / "dataset.py")
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    monkeypatch.setattr(driver.h, "FAILURES", [])
    monkeypatch.setattr(driver.h, "MIN_LOOP_TIME", 1e-4)
    memory = {n: {"symgrad C": driver.child("mse", "symgrad C", n, None)} for n in (500, 1000)}
    section = driver.timing_section("mse", 700, 1, None, memory)
    assert [r[0] for r in section.rows] == driver.PEERS and section.rows[-1][1] == "not installed"
    assert all(r[-1] == "ok" for r in section.rows[:-1]) and not driver.h.FAILURES
    assert any("bounded independently of N: met" in note for note in section.notes)
    params, X, Y = driver.make_data("ce", 300)  # the CE workload's hand-written gradient (its C kernels compile slowly)
    want = driver.flat(driver.peer_fn("ce", "symgrad numpy")(*params, X, Y))
    np.testing.assert_allclose(driver.flat(driver.hand("ce")(*params, X, Y)), want, rtol=1e-10, atol=1e-14)
