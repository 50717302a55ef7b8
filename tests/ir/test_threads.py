"""Compiling, calling and tracing from many threads at once gives the single-threaded results."""

from __future__ import annotations

import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import symgrad as sg
from symgrad.ir import make

THREADS = 8


def _race(fn, n=THREADS):
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so races show
    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(run, range(n)))
    finally:
        sys.setswitchinterval(old)


def test_first_calls_race_on_lazy_compilation():
    g = sg.grad(lambda x, y: sg.sin(x * y) + x**3, argnums=(0, 1))
    xs = np.linspace(-1, 1, 1000)

    def call(i):
        scalar = g(0.1 * i, 0.5) if i % 2 else None
        return scalar, g(xs + i, xs)

    for i, (scalar, (gx, gy)) in enumerate(_race(call)):
        x = xs + i
        np.testing.assert_allclose(gx, xs * np.cos(x * xs) + 3 * x**2, rtol=1e-13)
        np.testing.assert_allclose(gy, x * np.cos(x * xs), rtol=1e-13)
        if scalar is not None:
            x0 = 0.1 * i
            assert scalar[0] == np.float64(0.5 * math.cos(x0 * 0.5) + 3 * x0**2) or math.isclose(
                scalar[0], 0.5 * math.cos(x0 * 0.5) + 3 * x0**2, rel_tol=1e-14
            )


def test_concurrent_tracing_of_different_functions():
    def work(i):
        k = float(i + 2)
        h = sg.hessian(lambda x, y: sg.exp(k * x) * sg.log(1 + y**2), argnums=(0, 1))
        return h(0.3, 0.7)

    for i, h in enumerate(_race(work)):
        k = i + 2.0
        e, lg = math.exp(k * 0.3), math.log(1 + 0.49)
        assert math.isclose(h[0][0], k * k * e * lg, rel_tol=1e-13)
        assert math.isclose(h[0][1], k * e * 1.4 / 1.49, rel_tol=1e-13)


def test_interning_under_threads_gives_one_node_per_structure():
    x = sg.symbols("x")
    keys = [("sin", (x,), i) for i in range(2000)]  # fresh structures nobody has made yet

    def build(_):
        return [make(op, args, ("thread-test", v)) for op, args, v in keys]

    results = _race(build)
    for nodes in results[1:]:
        assert all(a is b for a, b in zip(results[0], nodes))
