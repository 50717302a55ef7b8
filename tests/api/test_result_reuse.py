"""A compiled function reuses a result block the caller has dropped, and never one still in use.

Writing a fresh million-point block costs its page faults (about a third of a
fast kernel's time), so the last two blocks are kept and reused once nothing
outside holds them or a view of them.  Any live result, or a view of one
(a single output, a slice, a transpose), must keep its values.
"""

from __future__ import annotations

import gc
import shutil
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import symgrad as sg

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]


def f(x, y):
    return sg.sin(x * y) + x**3 * y


def expected(x, y):
    value = np.sin(x * y) + x**3 * y
    grad = np.stack([np.cos(x * y) * y + 3 * x**2 * y, np.cos(x * y) * x + x**3], -1)
    return value, grad


def block_of(a) -> np.ndarray:
    """The array owning a result's memory (every output is a view of the one block)."""
    a = np.asarray(a)
    while a.base is not None:
        a = a.base
    return a


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_results_keep_their_values(backend):
    vg = sg.value_and_grad(f, argnums=(0, 1), backend=backend)
    xs = [np.linspace(-1, 1, 1000) + k for k in range(4)]
    y = np.linspace(0.5, 2.0, 1000)
    kept = [vg(x, y) for x in xs]  # all alive at once
    part = vg(xs[0] * 2, y)[1][0]  # only a view of one output is kept
    for _ in range(3):
        vg(xs[1] * 3, y)  # results dropped at once: blocks reused from here on
    for x, (value, (gx, gy)) in zip(xs, kept):
        want_v, want_g = expected(x, y)
        np.testing.assert_allclose(value, want_v, rtol=1e-12)
        np.testing.assert_allclose(np.stack([gx, gy], -1), want_g, rtol=1e-12)
    np.testing.assert_allclose(part, expected(xs[0] * 2, y)[1][:, 0], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dropped_block_is_reused(backend):
    hess = sg.hessian(f, argnums=(0, 1), backend=backend)
    x, y = np.linspace(0.1, 1, 5000), np.linspace(1, 2, 5000)
    first = hess(x, y)
    block = weakref.ref(block_of(first[0][0]))
    del first
    gc.collect()
    again = hess(x, y)
    assert block_of(again[0][0]) is block()  # the very block, not a new one at the same address
    # a loop `out = f(...)` drops the old result after the call: the block before it is reused
    out = hess(x, y)
    blocks = []
    for _ in range(4):
        out = hess(x, y)
        blocks.append(weakref.ref(block_of(out[0][0])))
    assert blocks[0]() is blocks[2]() is not None and blocks[1]() is blocks[3]() is not None
    np.testing.assert_allclose(out[0][1], np.cos(x * y) - x * y * np.sin(x * y) + 3 * x**2, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_get_their_own_blocks(backend):
    vg = sg.value_and_grad(f, backend=backend)
    y = np.linspace(0.5, 2.0, 2000)
    inputs = [np.linspace(-1, 1, 2000) * k for k in range(1, 17)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda x: vg(x, y), inputs))
    for x, (value, grad) in zip(inputs, results):
        want_v, want_g = expected(x, y)
        np.testing.assert_allclose(value, want_v, rtol=1e-12)
        np.testing.assert_allclose(grad, want_g[:, 0], rtol=1e-12)
