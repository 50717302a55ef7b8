"""Losses over a dataset: the gradient of a mean loss over 10**6 samples, symgrad against its peers.

Workloads (float64, seeded data):

- MSE: mean squared error of a linear model, D = 10 features: d/d(w, b) of mean((x.w + b - y)**2);
- CE: mean softmax cross-entropy of a linear classifier, C = 10 classes, D = 20 features,
  one-hot labels: d/d(W, b) of mean(-sum(y * log_softmax(W x + b))).

Peers: symgrad ``sg.grad(loss, data=("x", "y"), reduce="mean")`` on the numpy and C backends
(one thread, and C with threads=2), the hand-written numpy gradient (BLAS matmuls), and
``jax.jit(jax.grad(...))`` on the CPU when JAX is importable (``--jax-path DIR`` adds a
folder holding it to sys.path; JAX is never a dependency).  BLAS, OpenMP and XLA are held to
one thread, so every row but the threads=2 one runs on one core.

Time: median of timeit loops at ``--samples`` (10**6).  Memory: the peak resident set a
single call adds, beyond the data and the compiled code, in a fresh process per
(workload, peer, N) at N = 10**5, 10**6, 10**7 (``--memory-sizes``): the data is made and
the code compiled (JAX: ahead of time, at the full shape), the kernel's peak RSS counter is
reset (``/proc/self/clear_refs``), one call runs, and the counter's rise is reported.

Run: python benchmarks/dataset.py [--quick] [--output FILE] [--jax-path DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, before numpy loads BLAS
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np

import symgrad as sg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h

SHAPES = {"mse": {"w": (10,), "x": (10,)}, "ce": {"params": {"W": (10, 20), "b": (10,)}, "x": (20,), "y": (10,)}}
TITLES = {
    "mse": "MSE: gradient of the mean squared error of a linear model (D = 10)",
    "ce": "CE: gradient of the mean softmax cross-entropy of a linear classifier (C = 10, D = 20)",
}
PEERS = ["symgrad numpy", "symgrad C", "symgrad C, threads=2", "hand-written numpy", "jax.jit(jax.grad) CPU"]


def mse(w, b, x, y):
    return (x @ w + b - y) ** 2


def ce(params, x, y):
    return -sg.sum(y * sg.log_softmax(params["W"] @ x + params["b"]))


def make_data(workload: str, n: int, seed: int = 0):
    """(parameters, X, Y) for ``n`` samples."""
    rng = np.random.default_rng(seed)
    if workload == "mse":
        w_true = rng.normal(size=10)
        X = rng.normal(size=(n, 10))
        Y = X @ w_true + 0.5 + 0.1 * rng.normal(size=n)
        return (rng.normal(size=10), 0.3), X, Y
    labels = rng.integers(0, 10, n)
    centers = rng.normal(size=(10, 20))
    X = rng.normal(size=(n, 20))
    X += centers[labels]
    Y = np.zeros((n, 10))
    Y[np.arange(n), labels] = 1.0
    return ({"W": 0.1 * rng.normal(size=(10, 20)), "b": 0.1 * rng.normal(size=10)},), X, Y


def flat(result) -> np.ndarray:
    """A gradient (tuple or dict of arrays and floats) as one float64 vector."""
    if isinstance(result, dict):
        return np.concatenate([flat(result[k]) for k in ("W", "b")])
    if isinstance(result, (tuple, list)):
        return np.concatenate([flat(r) for r in result])
    return np.asarray(result, dtype=float).ravel()


def hand(workload: str):
    if workload == "mse":

        def grad_mse(w, b, X, Y):
            r = X @ w + b - Y
            return 2.0 * (X.T @ r) / len(Y), 2.0 * r.mean()

        return grad_mse

    def grad_ce(params, X, Y):
        Z = X @ params["W"].T + params["b"]
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=1, keepdims=True)
        P -= Y
        P /= len(Y)
        return {"W": P.T @ X, "b": P.sum(axis=0)}

    return grad_ce


def jax_module(path: str | None):
    """jax (x64 on), or None when it cannot be imported."""
    if path:
        sys.path.append(path)
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def jax_grad(jax, workload: str):
    jnp = jax.numpy
    if workload == "mse":
        return jax.jit(jax.grad(lambda w, b, X, Y: jnp.mean((X @ w + b - Y) ** 2), argnums=(0, 1)))

    def loss(params, X, Y):
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(X @ params["W"].T + params["b"]), axis=1))

    return jax.jit(jax.grad(loss))


def peer_fn(workload: str, peer: str, jax=None):
    """``fn(*args)`` computing the gradient, or None for a peer that is not available."""
    if peer.startswith("symgrad"):
        backend = "numpy" if "numpy" in peer else "c"
        threads = 2 if "threads=2" in peer else 1
        kw = {"argnums": (0, 1)} if workload == "mse" else {}
        return sg.grad(
            _loss(workload), shapes=SHAPES[workload], data=("x", "y"), backend=backend, threads=threads, **kw
        )
    if peer == "hand-written numpy":
        return hand(workload)
    return None if jax is None else jax_grad(jax, workload)


def _loss(workload: str):
    return mse if workload == "mse" else ce


def _jax_args(jax, args: tuple) -> tuple:
    return tuple(jax.tree_util.tree_map(jax.numpy.asarray, a) for a in args)


# -- memory, one process per measurement ---------------------------------------------------


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])  # KiB
    raise RuntimeError(f"{key} not in /proc/self/status")


def child(workload: str, peer: str, n: int, jax_path: str | None) -> dict:
    """Peak RSS one call adds, beyond the data and the compiled code (run in a fresh process)."""
    jax = jax_module(jax_path) if peer.startswith("jax") else None
    fn = peer_fn(workload, peer, jax)
    params, X, Y = make_data(workload, n)
    args = (*params, X, Y)
    if jax is not None:
        args = _jax_args(jax, args)
        fn = fn.lower(*args).compile()  # compiled at this shape before the counter is reset
    else:
        small = make_data(workload, 10)
        fn(*small[0], small[1], small[2])  # the kernel is generated and loaded
    import gc

    gc.collect()
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak RSS counter (VmHWM) to the current RSS
    t0 = time.perf_counter()
    result = fn(*args)
    if jax is not None:
        jax.block_until_ready(result)
    seconds = time.perf_counter() - t0
    extra = (_status("VmHWM") - base) / 1024
    traced = None
    if jax is None:  # numpy's allocations, seen by tracemalloc even when the allocator reuses freed memory
        import tracemalloc

        tracemalloc.start()
        fn(*args)
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {"extra_mib": extra, "traced_mib": traced, "seconds": seconds}


# -- the run ------------------------------------------------------------------------------


def timing_section(workload: str, n: int, repeat: int, jax, memory: dict) -> h.Section:
    section = h.Section(
        f"{TITLES[workload]}, N = {n:,}",
        ["peer", "ms / call", "time ÷ symgrad C's", "extra peak RSS at N = " + " / ".join(f"{m:.0e}" for m in memory), "agrees"],
    )  # fmt: skip
    params, X, Y = make_data(workload, n)
    times, reference = {}, None
    for peer in PEERS:
        fn = peer_fn(workload, peer, jax)
        if fn is None:
            section.add(peer, "not installed", "—", "—", "—")
            continue
        args = _jax_args(jax, (*params, X, Y)) if peer.startswith("jax") else (*params, X, Y)
        if peer.startswith("jax"):
            call = lambda f=fn, a=args: jax.block_until_ready(f(*a))
        else:
            call = lambda f=fn, a=args: f(*a)
        got = flat(call())
        reference = got if reference is None else reference
        agrees = h.check(np.allclose(got, reference, rtol=1e-9, atol=1e-12), f"{workload}: {peer} agrees with symgrad")
        times[peer] = h.per_call(call, repeat)
        mem = " / ".join(_memory_text(memory[m].get(peer)) for m in memory)
        section.add(peer, h.ms(times[peer]), "", mem, agrees)
    c_time = times.get("symgrad C")
    for row in section.rows:
        if row[0] in times and c_time:
            row[2] = f"{times[row[0]] / c_time:.2f}"
    hand_time, jax_time = times.get("hand-written numpy"), times.get("jax.jit(jax.grad) CPU")
    if "symgrad numpy" in times and hand_time:
        ratio = times["symgrad numpy"] / hand_time
        section.notes.append(
            f"target: symgrad numpy within 1.5x of hand-written numpy: {ratio:.2f}x, {h.met(ratio <= 1.5)}"
        )
    if c_time and jax_time:
        section.notes.append(f"target: symgrad C (1 thread) no slower than JAX: {c_time / jax_time:.2f}x JAX's time, "
                             f"{h.met(c_time <= jax_time)}")  # fmt: skip
    if memory:
        small, large = min(memory), max(memory)
        peak = {n: {p: max(e["extra_mib"], e["traced_mib"] or 0) for p, e in memory[n].items()} for n in memory}
        grows = [p for p in peak[large] if p.startswith("symgrad") and peak[large][p] > peak[small][p] + 8]
        section.notes.append(f"target: symgrad's memory bounded independently of N: {h.met(not grows)}")
    return section


def _memory_text(entry: dict | None) -> str:
    if entry is None:
        return "—"
    traced = "" if entry["traced_mib"] is None else f" ({entry['traced_mib']:.1f})"
    return f"{entry['extra_mib']:.1f}{traced} MiB"


def gpu_section(workload: str, n: int, repeat: int) -> h.Section | None:
    """symgrad's fused CUDA reduction on device arrays against the device's copy bandwidth (None without a GPU)."""
    try:
        from symgrad.backends.cuda import cupy

        cp = cupy()
    except sg.BackendError:
        return None
    params, X, Y = make_data(workload, n)
    kw = {"argnums": (0, 1)} if workload == "mse" else {}
    G = sg.grad(_loss(workload), shapes=SHAPES[workload], data=("x", "y"), backend="cuda", **kw)
    dX, dY = cp.asarray(X), cp.asarray(Y)
    dev_params = tuple(
        cp.asarray(p) if not isinstance(p, dict) else {k: cp.asarray(v) for k, v in p.items()} for p in params
    )
    want = flat(peer_fn(workload, "symgrad numpy")(*params, X, Y))
    got = flat(G(*dev_params, dX, dY))
    agrees = h.check(np.allclose(got, want, rtol=1e-9, atol=1e-12), f"{workload}: symgrad cuda agrees")
    seconds = h.gpu_time(lambda: G(*dev_params, dX, dY), repeat)
    bX, bY = cp.empty_like(dX), cp.empty_like(dY)
    copy = h.gpu_time(lambda: (cp.copyto(bX, dX), cp.copyto(bY, dY)), repeat)
    nbytes = X.nbytes + Y.nbytes
    section = h.Section(
        f"{TITLES[workload]} on the GPU, N = {n:,}", ["kernel", "ms / call", "GB/s over the data", "agrees"]
    )
    section.add("symgrad cuda (fused map + block reduction)", h.ms(seconds), f"{nbytes / seconds / 1e9:.0f}", agrees)
    section.add("device copy of the same data (read + write)", h.ms(copy), f"{2 * nbytes / copy / 1e9:.0f}", "—")
    fraction = (nbytes / seconds) / (2 * nbytes / copy)
    section.notes.append(
        f"target: >= 70% of the device's copy bandwidth: {100 * fraction:.0f}%, {h.met(fraction >= 0.7)}"
    )
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10**6)
    parser.add_argument("--memory-sizes", default="100000,1000000,10000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10**5 samples, memory at 10**4 and 10**5")
    parser.add_argument("--jax-path", default=os.environ.get("SYMGRAD_BENCH_JAX_PATH"))
    parser.add_argument("--output")
    parser.add_argument("--child", nargs=3, metavar=("WORKLOAD", "PEER", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        workload, peer, n = args.child
        print(json.dumps(child(workload, peer, int(n), args.jax_path)))
        return
    if args.quick:
        args.samples, args.memory_sizes, args.repeat = 10**5, "10000,100000", 3
        h.set_min_loop_time(0.05)
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    jax = jax_module(args.jax_path)
    started, load = time.perf_counter(), h.load_average()
    sections = []
    for workload in ("mse", "ce"):
        memory: dict[int, dict[str, float]] = {n: {} for n in sizes}
        for n in sizes:
            for peer in PEERS:
                if peer.startswith("jax") and jax is None:
                    continue
                extra = ["--jax-path", args.jax_path] if args.jax_path else []
                memory[n][peer] = h.run_child(__file__, "--child", workload, peer, str(n), *extra)
        sections.append(timing_section(workload, args.samples, args.repeat, jax, memory))
        gpu = gpu_section(workload, args.samples, args.repeat)
        sections += [gpu] if gpu else []
    sections[-1].notes += [
        (
            "ms / call: median of timeit loops; every peer on one thread (BLAS, OpenMP and XLA held to one) but "
            "'threads=2'. time ÷ symgrad C's > 1: symgrad's C backend is faster than that peer."
        ),
        (
            "extra peak RSS: what one call adds to the process's peak resident set beyond the data and the compiled "
            "code, in a fresh process per entry (the peak counter reset through /proc/self/clear_refs just before "
            "the call); in parentheses the peak of numpy's allocations during a second call, traced by tracemalloc "
            "(RSS misses memory the allocator reuses; JAX's buffers are not traced)."
        ),
        "agrees: each peer's gradient against symgrad numpy's (rtol 1e-9).",
        "GPU: a section per workload when CuPy finds a GPU (none here means none was found).",
    ]
    versions = [f"numpy {np.__version__}", f"symgrad {sg.__version__}", f"jax {jax.__version__}" if jax else "jax not installed"]  # fmt: skip
    facts = [
        f"date: {h.timestamp()}",
        f"machine: {h.machine(versions)}",
        f"load average (1 min) at start / end: {load} / {h.load_average()}; total run time {time.perf_counter() - started:.1f} s",
        f"command: `python benchmarks/dataset.py{' --quick' if args.quick else ''}`",
    ]  # fmt: skip
    h.report("Losses over a dataset", facts, sections, args.output)
    sys.exit(1 if h.FAILURES else 0)


if __name__ == "__main__":
    main()
