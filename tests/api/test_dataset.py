"""Losses over a dataset (``data=``, ``reduce=``): one fused pass gives the mean loss and its gradient.

Checked against independently computed per-sample values (the same function
compiled without ``data=`` and evaluated over the batch, then averaged), against
central differences of the mean loss, against ``math.fsum``, across chunk sizes,
thread counts and the numpy and C backends; bad input fails before any kernel runs.
"""

from __future__ import annotations

import math
import pickle
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import symgrad as sg
from symgrad.api.dataset import DatasetCompiled

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]
D, C = 3, 3
SHAPES = {"w": (D,), "x": (D,)}
W_TRUE = np.array([2.0, -1.0, 0.5])


def mse(w, b, x, y):
    return (x @ w + b - y) ** 2


def cross_entropy(params, x, y):
    z = params["W"] @ x + params["b"]
    log_p = sg.log_softmax(z)
    return -sg.sum(y * log_p), sg.sum(y * sg.exp(log_p))


CE_SHAPES = {"params": {"W": (C, D), "b": (C,)}, "x": (D,), "y": (C,)}


def linear_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    return X, X @ W_TRUE + 0.7 + 0.1 * rng.normal(size=n)


def class_data(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, n)
    params = {"W": rng.normal(size=(C, D)), "b": rng.normal(size=C)}
    return params, rng.normal(size=(n, D)) + labels[:, None], np.eye(C)[labels]


W0, B0 = np.array([0.3, 0.1, -0.2]), 0.05


# -- values ----------------------------------------------------------------------------------


def test_the_pinned_example_returns_a_float_and_an_array_float_pair():
    X, Y = linear_data(1001)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"), reduce="mean")
    value = L(W0, B0, X, Y)
    assert type(value) is float and np.isclose(value, np.mean((X @ W0 + B0 - Y) ** 2), rtol=1e-13)
    G = sg.grad(L, argnums=(0, 1))
    gw, gb = G(W0, B0, X, Y)
    residual = X @ W0 + B0 - Y
    assert gw.shape == (D,) and type(gb) is float
    np.testing.assert_allclose(gw, 2 * X.T @ residual / len(Y), rtol=1e-12)
    assert np.isclose(gb, 2 * residual.mean(), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_gradient_equals_the_reduction_of_independent_per_sample_gradients(backend, reduce):
    X, Y = linear_data(777)
    G = sg.grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), reduce=reduce, backend=backend)
    per_w, per_b = sg.grad(mse, argnums=(0, 1), shapes=SHAPES)(W0, B0, X, Y)  # (N, D) and (N,)
    op = np.mean if reduce == "mean" else np.sum
    gw, gb = G(W0, B0, X, Y)
    np.testing.assert_allclose(gw, op(per_w, axis=0), rtol=1e-12)
    assert np.isclose(gb, op(per_b), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_matches_central_differences_of_the_mean_loss(backend):
    params, X, Y = class_data(500)
    L = sg.compile(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), backend=backend)
    (_, _), g = sg.value_and_grad(L, has_aux=True)(params, X, Y)
    h = 1e-6
    for key in ("W", "b"):
        for idx in np.ndindex(params[key].shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[key][idx] += h
            down[key][idx] -= h
            fd = (L(up, X, Y)[0] - L(down, X, Y)[0]) / (2 * h)
            assert abs(g[key][idx] - fd) < 1e-7, (key, idx)


def test_value_and_grad_gives_the_loss_and_gradient_from_one_kernel():
    X, Y = linear_data(1234)
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"))
    assert isinstance(V, DatasetCompiled) and len(V._slots) == 1 + D + 1  # one kernel: value and every gradient
    calls = []
    kernel = V._chunk_kernel
    V._chunk_kernel = lambda *a: (calls.append(a[2]), kernel(*a))[1]
    value, (gw, _) = V(W0, B0, X, Y)
    assert sum(calls) == len(Y)  # every sample went through the kernel exactly once
    assert value == sg.compile(mse, shapes=SHAPES, data=("x", "y"))(W0, B0, X, Y)
    np.testing.assert_allclose(gw, sg.grad(mse, argnums=0, shapes=SHAPES, data=("x", "y"))(W0, B0, X, Y), rtol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 999, 1000])
def test_chunked_equals_unchunked_for_n_not_a_multiple_of_the_chunk(backend, n):
    X, Y = linear_data(n)
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend=backend)
    whole = V.chunked(10**6)(W0, B0, X, Y)
    for chunk in (1, 7, 64):
        value, (gw, gb) = V.chunked(chunk)(W0, B0, X, Y)
        assert np.isclose(value, whole[0], rtol=1e-13) and np.isclose(gb, whole[1][1], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gw, whole[1][0], rtol=1e-12, atol=1e-15)


@needs_cc
def test_c_and_numpy_agree_with_pytree_parameters_and_aux():
    params, X, Y = class_data(2001)
    got = {}
    for backend in ("numpy", "c"):
        V = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True, backend=backend)
        got[backend] = V(params, X, Y)
    (v_np, aux_np), g_np = got["numpy"]
    (v_c, aux_c), g_c = got["c"]
    assert np.isclose(v_np, v_c, rtol=1e-13) and np.isclose(aux_np, aux_c, rtol=1e-13)
    for key in ("W", "b"):
        np.testing.assert_allclose(g_c[key], g_np[key], rtol=1e-11, atol=1e-14)


def test_aux_is_reduced_over_the_samples_too():
    params, X, Y = class_data(300)
    (value, confidence), g = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True)(
        params, X, Y
    )
    (per_value, per_conf), per_g = sg.value_and_grad(cross_entropy, shapes=CE_SHAPES, has_aux=True)(params, X, Y)
    assert np.isclose(value, per_value.mean()) and np.isclose(confidence, per_conf.mean())
    np.testing.assert_allclose(g["W"], per_g["W"].mean(axis=0), rtol=1e-12)
    # N15: the mean gradient in the logits' bias is mean(softmax(z) - y)
    z = X @ params["W"].T + params["b"]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g["b"], (p - Y).mean(axis=0), atol=1e-12)
    (_, aux_only) = sg.grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True)(params, X, Y)
    assert np.isclose(aux_only, confidence)


def test_transformations_of_a_dataset_function_keep_data_and_reduce():
    X, Y = linear_data(400)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    per = sg.hessian(mse, argnums=0, shapes=SHAPES)(W0, B0, X, Y)  # (N, D, D)
    H = sg.hessian(L, argnums=0)
    assert isinstance(H, DatasetCompiled) and H.data == ("x", "y") and H.reduce == "mean"
    np.testing.assert_allclose(H(W0, B0, X, Y), per.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sg.jacobian(L, argnums=0)(W0, B0, X, Y), sg.grad(L)(W0, B0, X, Y), rtol=1e-14)
    np.testing.assert_allclose(sg.derivative(L, 2, argnums=0)(W0, B0, X, Y), per.mean(axis=0), rtol=1e-12)
    total = sg.grad(sg.grad(L, argnums=1), argnums=1)
    assert total.reduce == "mean" and np.isclose(total(W0, B0, X, Y), 2.0)
    summed = sg.grad(L, argnums=1, reduce="sum")  # reduce= given to a transformation replaces the kept one
    assert np.isclose(summed(W0, B0, X, Y), len(Y) * sg.grad(L, argnums=1)(W0, B0, X, Y))
    sparse = sg.hessian(L, argnums=0, sparse=True)(W0, B0, X, Y)
    np.testing.assert_allclose(sparse.todense(), per.mean(axis=0), rtol=1e-12)

    @sg.jit(shapes=SHAPES, data=("x", "y"), reduce="sum")
    def loss(w, b, x, y):
        return (x @ w + b - y) ** 2

    assert np.isclose(loss(W0, B0, X, Y), len(Y) * L(W0, B0, X, Y))
    assert np.isclose(sg.vmap(sg.compile(mse, shapes=SHAPES), in_axes=(None, None, 0, 0))(W0, B0, X, Y).mean(),
                      L(W0, B0, X, Y))  # fmt: skip


def test_data_by_position_keyword_calls_and_expressions():
    X, Y = linear_data(50)
    by_name = sg.grad(mse, shapes=SHAPES, data=("x", "y"))
    by_position = sg.grad(mse, shapes=SHAPES, data=(2, -1))
    np.testing.assert_array_equal(by_name(W0, B0, X, Y), by_position(W0, B0, X, Y))
    np.testing.assert_array_equal(by_name(y=Y, x=X, b=B0, w=W0), by_name(W0, B0, X, Y))
    w, x = sg.symbols("w", shape=(D,)), sg.symbols("x", shape=(D,))
    E = sg.compile(sg.sum(w * x) ** 2, inputs=[w, x], data="x", reduce="sum")
    assert np.isclose(E(W0, X), np.sum((X @ W0) ** 2))


def test_a_dataset_function_called_inside_a_trace_gives_the_per_sample_value():
    X, Y = linear_data(300)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))

    def regularized(w, b, x, y):
        return L(w, b, x, y) + 0.01 * sg.sum(w**2)

    R = sg.grad(regularized, argnums=0, shapes=SHAPES, data=("x", "y"))
    np.testing.assert_allclose(R(W0, B0, X, Y), sg.grad(L)(W0, B0, X, Y) + 0.02 * W0, rtol=1e-12)


def test_float32_accumulates_in_float64_and_returns_float32():
    X, Y = linear_data(100_001)
    L32 = sg.compile(mse, shapes=SHAPES, data=("x", "y"), dtype="float32")
    value = L32(W0.astype(np.float32), np.float32(B0), X.astype(np.float32), Y.astype(np.float32))
    assert isinstance(value, np.float32)
    assert np.isclose(value, np.mean((X @ W0 + B0 - Y) ** 2), rtol=1e-5)


def test_the_formula_prints_as_a_mean_over_the_samples():
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    G = sg.grad(L, argnums=(0, 1))
    assert L.formula == "mean((b + w[0]*x[0] + w[1]*x[1] + w[2]*x[2] - y)**2)"
    assert G.formula.startswith("([mean(2*x[0]*(b + w[0]*x[0] + w[1]*x[1] + w[2]*x[2] - y)), mean(2*x[1]*(")
    assert str(G) == G.formula and G.formula in repr(G) and "mean over the samples of x, y" in repr(G)
    assert sg.grad(L, argnums=1, reduce="sum").formula == "sum(2*(b + w[0]*x[0] + w[1]*x[1] + w[2]*x[2] - y))"
    assert "'b': [mean(" in sg.grad(cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True).formula


def test_the_formula_shows_the_outputs_as_built_custom_functions_and_constants_by_name():
    # it printed the lowered slots: mean(exp(-w**2*x**2)*sin(w*x)) and mean(2.718281828459045*w*x + 3.14...)
    @sg.custom_function(name="ripple")
    def ripple(x):
        return sg.sin(x) * sg.exp(-(x**2))

    for loss in (lambda w, x: ripple(w * x), lambda w, x: sg.E * w * x + sg.pi):
        assert sg.compile(loss, data="x").formula == f"mean({sg.compile(loss).outputs})"
    assert sg.compile(lambda w, x: ripple(w * x), data="x").formula == "mean(ripple(w*x))"


def test_pickled_function_rebuilds_and_computes_the_same():
    X, Y = linear_data(100)
    G = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"))
    again = pickle.loads(pickle.dumps(G))
    assert again(W0, B0, X, Y)[0] == G(W0, B0, X, Y)[0] and again.data == G.data


# -- accuracy, threads, memory --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_sums_agree_with_fsum_of_the_per_sample_values(backend):
    X, Y = linear_data(300_007)
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend=backend)
    value, (gw, gb) = V(np.zeros(D), 0.0, X, Y)  # far from the optimum: no cancellation in the gradient
    per_value, (per_w, per_b) = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES)(np.zeros(D), 0.0, X, Y)
    got = np.array([value, *gw, gb])
    exact = np.array([math.fsum(v) / len(Y) for v in (per_value, *per_w.T, per_b)])
    assert np.max(np.abs(got - exact) / np.abs(exact)) <= 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", [0.1, 1 / 3, -0.7])
def test_sums_of_many_like_values_are_as_accurate_as_numpys(backend, value):
    # the fused C reduction summed each lane's share of 8192 samples in order: 67 ulps off on a constant 0.1
    x = np.full(100_003, value) * (1 + np.arange(100_003) % 3 * 1e-9)
    total = sg.compile(lambda a, x: a * x, data="x", reduce="sum", backend=backend)(1.0, x)
    exact = math.fsum(x)
    assert abs(total - exact) <= 2 * np.spacing(math.fsum(np.abs(x)))  # the README's "a few ulps"; np.sum: 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_give_bit_identical_results_whatever_the_scheduling(backend):
    params, X, Y = class_data(50_003)
    results = []
    for threads in (1, 2, 3, 2):
        V = sg.value_and_grad(
            cross_entropy, shapes=CE_SHAPES, data=("x", "y"), has_aux=True, threads=threads, backend=backend
        )
        (value, aux), g = V.chunked(1000)(params, X, Y)
        results.append(np.array([value, aux, *g["W"].ravel(), *g["b"]]))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def _peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_temporary_memory_does_not_grow_with_the_number_of_samples(backend):
    V = sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y"), backend=backend)
    V(W0, B0, *linear_data(10))  # load the kernel first
    peaks = []
    for n in (20_000, 200_000, 2_000_000):
        X, Y = linear_data(n)  # the data itself is allocated before tracing starts
        peaks.append(_peak_bytes(V, W0, B0, X, Y))
    assert peaks[-1] < 4 << 20 and peaks[-1] < peaks[0] + (256 << 10), peaks


# -- bad input ------------------------------------------------------------------------------


def _calls_no_kernel(V):
    def refuse(*args):
        raise AssertionError("a kernel ran on bad input")

    V._chunk_kernel = refuse
    return V


BAD_CALLS = {
    "different N": (lambda X, Y: (W0, B0, X, Y[:-1]), sg.ShapeError, r"different numbers of samples: x \(50, 3\), y \(49,\)"),
    "no sample axis": (lambda X, Y: (W0, B0, X[0], Y), sg.ShapeError, r"'x' needs a leading sample axis.*\(N, 3\), got shape \(3,\)"),
    "scalar data": (lambda X, Y: (W0, B0, X, 1.0), sg.ShapeError, r"'y' needs a leading sample axis: shape \(N,\) \+ \(\) = \(N,\), got shape \(\)"),
    "wrong per-sample shape": (lambda X, Y: (W0, B0, X[:, :2], Y), sg.ShapeError, r"'x' needs.*got shape \(50, 2\)"),
    "batched parameter": (lambda X, Y: (np.stack([W0, W0]), B0, X, Y), sg.ShapeError, r"'w' is not a data argument.*\(3,\), got shape \(2, 3\)"),
    "no samples": (lambda X, Y: (W0, B0, X[:0], Y[:0]), sg.InputError, r"no samples \(x \(0, 3\), y \(0,\)\)"),
    "complex data": (lambda X, Y: (W0, B0, X + 0j, Y), sg.InputError, r"'x' is complex"),
    "ragged data": (lambda X, Y: (W0, B0, [[1.0, 2.0, 3.0], [1.0]], Y), sg.InputError, r"'x' is not a numeric array"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_data_is_a_clear_error_before_anything_runs(case):
    make, error, message = BAD_CALLS[case]
    X, Y = linear_data(50)
    V = _calls_no_kernel(sg.value_and_grad(mse, argnums=(0, 1), shapes=SHAPES, data=("x", "y")))
    with pytest.raises(error, match=message):
        V(*make(X, Y))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: sg.compile(mse, shapes=SHAPES, reduce="mean"), r"reduce='mean' needs data=.*w, b, x, y"),
        (lambda: sg.grad(mse, shapes=SHAPES, data=("x", "yy")), r"names 'yy', which is not an argument.*'y'\?"),
        (lambda: sg.grad(mse, shapes=SHAPES, data=(7,)), r"position 7 is out of range"),
        (lambda: sg.grad(mse, shapes=SHAPES, data=()), r"data= names the per-sample arguments"),
        (lambda: sg.grad(mse, shapes=SHAPES, data=("x", "y"), reduce="max"), r"reduce must be 'mean' or 'sum'"),
        (lambda: sg.grad(mse, argnums=2, shapes=SHAPES, data=("x", "y")), r"argnums includes 'x', a data argument"),
        (lambda: sg.hessian(mse, argnums=(0, 3), shapes=SHAPES, data=("x", "y")), r"includes 'y'.*\(w, b\)"),
    ],
)
def test_bad_data_options_are_refused_by_name(build, message):
    with pytest.raises(sg.InputError, match=message):
        build()


def test_products_of_a_dataset_function_are_refused_not_silently_per_sample():
    X, Y = linear_data(10)
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    with pytest.raises(sg.InputError, match="over a dataset"):
        sg.jvp(L, (W0, B0, X, Y), (W0, B0, X, Y))


@pytest.mark.parametrize("in_axes", [(0, None, None, None), (None, None, 0, 0)])
def test_vmap_of_a_dataset_function_is_refused_not_misread(in_axes):
    # it was accepted, then mapped the parameters and called the data unmapped ("must have its declared
    # shape (3,)"), or mapped the data, reduced it and failed on the scalar ("out_axes 0 is out of range")
    L = sg.compile(mse, shapes=SHAPES, data=("x", "y"))
    for make in (lambda: sg.vmap(L, in_axes=in_axes), lambda: sg.vmap(mse, in_axes, shapes=SHAPES, data=("x", "y"))):
        with pytest.raises(sg.InputError, match="vmap of a function over a dataset"):
            make()


def test_import_symgrad_does_not_import_dask():
    code = "import sys, symgrad; sys.exit(int(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
