"""symgrad against its peers, in one run.

    python benchmarks/run.py            # full (about 1-2 minutes), writes benchmarks/results.md
    python benchmarks/run.py --quick    # smoke (under 30 s), prints only

Measurements (the workloads are defined in workloads.py, timed with harness.py):

- W2: value + gradient + Hessian of a 3-variable function at many points
  (symgrad compile, numpy and C backends, vs sympy lambdify(cse=True) vs hand-written
  numpy, plus symengine's Lambdify and JAX when they are installed).
- R:  build time of the extended Rosenbrock Hessian (trace, differentiate,
  simplify, generate, first call) and its operation count, vs sympy for small n.
- K:  k-th derivative of a univariate function for k = 1..8: build time and
  operation count, vs sympy.diff (+ sympy.cse for the count).
- L:  per-call latency of a compiled gradient/Hessian called with Python floats.

Targets are printed next to the measured values; nothing is asserted about speed,
but every result is checked against the others and a failed check makes the exit
status 1.  Optional peers that are not installed are skipped with a note, never faked.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

# harness and workloads are this folder's modules: a driver run as a script has the folder on sys.path
import harness as h
import numpy as np
import workloads as wl

import symgrad as sg

PHASES_UNDER = 20.0  # seconds: a build slower than this is not rebuilt phase by phase


# -- W2 -------------------------------------------------------------------------------------------


def _not_installed(sec: h.Section, row: str, peer: str, hint: str = "") -> None:
    sec.add(row, "—", "not installed", "—", "—", "")
    sec.notes.append(f"{peer} not installed: skipped{hint}.")


def bench_w2(npoints: int, repeat: int) -> h.Section:
    sec = h.Section(
        f"W2: value + gradient + Hessian of a 3-variable f at {npoints:.0e} points (float64)",
        ["peer", "build", "ms / call", "symgrad ÷ peer", "agrees with symgrad", "target"],
    )
    X, Y, Z = wl.w2_points(npoints)

    # symgrad, numpy backend: the reference every other peer is checked against
    t_build_sg, c, _ = h.fresh_timing(wl.w2_symgrad, 1)
    ref = c(X, Y, Z)
    t_sg = h.per_call(lambda: c(X, Y, Z), repeat)
    sec.add(
        "symgrad `sg.compile([f, grad, hess])`",
        h.secs(t_build_sg),
        h.ms(t_sg),
        "1.00",
        "—",
        f"{c.statement_count} statements in the kernel",
    )

    # sympy lambdify with cse
    t_build_sp, lam, _ = h.fresh_timing(wl.w2_sympy, 1)
    ok_sp = h.check(wl.w2_close(ref, wl.w2_sympy_canonical(lam(X, Y, Z))), "W2: symgrad vs sympy.lambdify differ")
    t_sp = h.per_call(lambda: lam(X, Y, Z), repeat)
    sec.add(
        "sympy `lambdify(cse=True)`",
        h.secs(t_build_sp),
        h.ms(t_sp),
        f"{t_sg / t_sp:.2f}",
        ok_sp,
        "symgrad ≤ sympy-cse: " + h.met(t_sg <= t_sp),
    )

    # hand-written numpy
    ok_hand = h.check(wl.w2_close(ref, wl.w2_hand_canonical(wl.w2_hand(X, Y, Z))), "W2: symgrad vs hand numpy differ")
    t_hand = h.per_call(lambda: wl.w2_hand(X, Y, Z), repeat)
    sec.add(
        "hand-written numpy (10 arrays)",
        "—",
        h.ms(t_hand),
        f"{t_sg / t_hand:.2f}",
        ok_hand,
        "symgrad ≤ 1.5× hand: " + h.met(t_sg <= 1.5 * t_hand),
    )

    # the same kernel as C: one thread, and a thread per core
    t_c1 = None
    try:
        for threads in sorted({1, os.cpu_count() or 1}):

            def build_c(threads=threads):
                cc = wl.w2_symgrad("c", threads=threads)
                cc(X[:10], Y[:10], Z[:10])  # build (or load from the disk cache) and load the library
                return cc

            t_build_c, cc, _ = h.fresh_timing(build_c, 1)
            ok_c = h.check(wl.w2_close(ref, cc(X, Y, Z)), f"W2: backend='c' (threads={threads}) vs numpy differ")
            t_c = h.per_call(lambda cc=cc: cc(X, Y, Z), repeat)
            t_c1 = t_c if threads == 1 else t_c1
            sec.add(
                f"symgrad `backend='c'`, threads={threads}",
                h.secs(t_build_c),
                h.ms(t_c),
                f"{t_sg / t_c:.2f}",
                ok_c,
                f"{t_c / npoints * 1e9:.0f} ns/point",
            )
    except sg.BackendError as exc:
        sec.notes.append(f"backend='c' unavailable here: {exc}")

    # symengine
    if wl.peer("symengine") is None:
        _not_installed(sec, "symengine Lambdify", "symengine", " (pip install symengine)")
    else:
        stacked = wl.w2_stacked(X, Y, Z)
        backend = "llvm"
        try:
            t_build_se, lse, _ = h.fresh_timing(lambda: wl.w2_symengine("llvm"), 1)
        except (ValueError, RuntimeError, TypeError) as exc:
            backend = "lambda (default)"
            sec.notes.append(f"symengine's llvm backend is unavailable ({exc}); used the default backend.")
            t_build_se, lse, _ = h.fresh_timing(lambda: wl.w2_symengine(None), 1)
        ok_se = h.check(wl.w2_close(ref, lse(stacked)), f"W2: symgrad vs symengine ({backend}) differ")
        t_se = h.per_call(lambda: lse(stacked), repeat)
        c_target = ""
        if t_c1 is not None:
            c_target = f"{t_se / npoints * 1e9:.0f} ns/point; backend='c' (1 thread) ≤ symengine: {h.met(t_c1 <= t_se)}"
        sec.add(
            f"symengine `Lambdify(cse=True, backend={backend!r})`",
            h.secs(t_build_se),
            h.ms(t_se),
            f"{t_sg / t_se:.2f}",
            ok_se,
            c_target,
        )
        t_stack = h.per_call(lambda: wl.w2_stacked(X, Y, Z), max(3, repeat // 2))
        sec.notes.append(
            "symengine is called with its native input layout, one (N, 3) array stacked "
            f"once outside the timing (stacking costs about {h.ms(t_stack)})."
        )

    # JAX
    if wl.peer("jax") is None:
        _not_installed(sec, "JAX (jit of value, grad, hessian)", "JAX")
    else:
        vfun = wl.w2_jax()
        V = wl.peer("jax").numpy.asarray(wl.w2_stacked(X, Y, Z))
        ok_j = h.check(wl.w2_close(ref, [np.asarray(o) for o in vfun(V)]), "W2: symgrad vs JAX differ")
        t_j = h.per_call(lambda: [o.block_until_ready() for o in vfun(V)], repeat)
        sec.add("JAX jit(vmap(value, grad, hessian)), CPU", "—", h.ms(t_j), f"{t_sg / t_j:.2f}", ok_j, "")

    sec.notes.append(
        "ms / call: median over repeats of timeit loops. Build: one cold build "
        "(symbols, differentiation, code generation), for information."
    )
    sec.notes.append(
        "symgrad fills batch-first arrays f (N,), grad (N, 3), hess (N, 3, 3) (symmetric "
        "entries computed once, copied); sympy returns [f, [3 arrays], (3, 3, N) array]; the "
        "hand-written function returns its 10 unique arrays without assembling them."
    )
    return sec


# -- R --------------------------------------------------------------------------------------------


def bench_rosenbrock(sizes: list[int], sympy_sizes: list[int], repeat: int, budget: float) -> h.Section:
    sec = h.Section(
        "R: extended Rosenbrock Hessian, build + first call (one point)",
        [
            "n",
            "tool",
            "build + first call",
            "of which first call",
            "ops",
            "kernel steps",
            "µs / op",
            "output slots (non-zero)",
            "phases (trace / diff / generate / call)",
            "target",
        ],
    )
    rng = np.random.default_rng(1)
    for n in sizes:
        x0 = rng.uniform(-1.5, 1.5, n)
        call_times: list[float] = []

        def build(n=n, x0=x0, call_times=call_times):
            H = wl.rosenbrock_symgrad(n)
            t0 = time.perf_counter()
            value = H(x0)
            call_times.append(time.perf_counter() - t0)
            return H, value

        t_total, (H, value), runs = h.fresh_timing(build, repeat, budget)
        ops = sg.operation_count(list(np.asarray(H.outputs, dtype=object).reshape(-1)))
        steps = H.statement_count
        del H

        phase_times: list[dict] = []

        def build_phases(n=n, x0=x0, phase_times=phase_times):
            laps = h.Laps()
            wl.rosenbrock_phases(n, x0, laps.lap)
            phase_times.append(laps.times)

        if t_total < PHASES_UNDER:
            h.fresh_timing(build_phases, runs, budget)
        phases = [statistics.median(p[k] for p in phase_times) for k in ("trace", "diff", "generate", "call")]

        ok = np.allclose(value, wl.rosenbrock_hessian_exact(x0), rtol=1e-12, atol=1e-9)
        verdict = h.check(ok, f"R: symgrad Rosenbrock Hessian (n={n}) differs from the analytic tridiagonal one")
        if n == 10:
            h.check(
                np.allclose(value, wl.fd_hessian(wl.rosenbrock_grad_numpy, x0), rtol=1e-6, atol=1e-4),
                "R: symgrad Rosenbrock Hessian (n=10) differs from finite differences of the numpy gradient",
            )
        sec.add(
            n,
            f"symgrad, median of {runs} (Hessian {verdict})",
            h.secs(t_total),
            h.secs(statistics.median(call_times)),
            ops,
            steps,
            f"{t_total / ops * 1e6:.1f}",
            f"{n * n} ({3 * n - 2})",
            " / ".join(h.secs(p) for p in phases) if phase_times else f"skipped (build > {PHASES_UNDER:.0f} s)",
            "< 0.5 s: " + h.met(t_total < 0.5) if n == 300 else "",
        )
        del value
        gc.collect()

    for n in sympy_sizes:
        x0 = rng.uniform(-1.5, 1.5, n)
        laps = h.Laps()
        t_total, (Hm, value), _ = h.fresh_timing(lambda n=n, x0=x0, laps=laps: wl.rosenbrock_sympy(n, x0, laps.lap), 1)
        t = {k: v for k, v in laps.times.items() if k != "setup"}
        ops = wl.cse_ops(wl.sympy_cse(list(Hm)))
        ok = np.allclose(value, wl.rosenbrock_hessian_exact(x0), rtol=1e-12, atol=1e-9)
        verdict = h.check(ok, f"R: sympy Rosenbrock Hessian (n={n}) differs from the analytic one")
        sec.add(
            n,
            f"sympy hessian + lambdify(cse) ({verdict})",
            h.secs(t_total),
            h.secs(t["call"]),
            f"{ops} (count_ops after cse)",
            "—",
            f"{t_total / max(ops, 1) * 1e6:.1f}",
            f"{n * n} ({3 * n - 2})",
            " / ".join(f"{k} {h.secs(v)}" for k, v in t.items()),
            "",
        )
    sec.notes.append(
        "symgrad: `H = sg.hessian(rosenbrock, shapes={'x': (n,)})` then `H(x0)`, median of fresh "
        "builds (up to `repeats`, fewer once they add up to the time budget), with gc.collect() and "
        "symgrad's compiled-source cache cleared before each, so nothing is reused; the garbage collector "
        "stays on while building, as in real use. ops = `sg.operation_count(all Hessian entries)` "
        "(an n-ary sum/product counts n-1); kernel steps = `H.statement_count` (statements generated). "
        "µs / op = build ÷ ops."
    )
    sec.notes.append(
        "Phases: the same Hessian through the expression API (`sg.symbols(shape=)`, "
        "`sg.hessian(f, xs)`, `sg.compile`, first call), median of as many fresh builds, each phase "
        "separately; simplification happens inside the builders, so it is part of trace and diff. "
        "Output slots: the dense n×n "
        "result the compiled Hessian returns, of which 3n-2 entries are structurally non-zero. "
        "sympy: `sympy.hessian` + `lambdify(cse=True)` + first call, one fresh build."
    )
    sec.notes.append(
        "Checked against the analytic tridiagonal Hessian at a random point for every n, and for "
        "n=10 also against central finite differences of a hand-written numpy gradient."
    )
    return sec


# -- K --------------------------------------------------------------------------------------------


def bench_kth(max_k: int, repeat: int) -> h.Section:
    sec = h.Section(
        f"K: k-th derivative of g(x) = {wl.KTH_TEXT}",
        [
            "k",
            "symgrad build",
            "symgrad ops",
            "sympy.diff",
            "sympy.cse",
            "sympy ops (after cse)",
            "value at 0.7 agrees (1e-9)",
            "target",
        ],
    )
    xs = wl.kth_sympy_symbol()
    for k in range(1, max_k + 1):
        t_sg, (x, d), _ = h.fresh_timing(lambda k=k: wl.kth_symgrad(k), repeat)
        ops = sg.operation_count([d])
        value = sg.compile(d, inputs=[x])(0.7)
        del x, d

        t_sp, d_sp, _ = h.fresh_timing(lambda k=k: wl.kth_sympy(k, xs), max(1, repeat // 2))
        t0 = time.perf_counter()
        cse = wl.sympy_cse(d_sp)
        t_cse = time.perf_counter() - t0
        ops_sp = wl.cse_ops(cse)
        exact = wl.kth_sympy_value(d_sp, xs)
        verdict = h.check(
            abs(value - exact) <= 1e-9 * abs(exact), f"K: symgrad d^{k}g/dx^{k}(0.7) = {value!r}, sympy says {exact!r}"
        )
        target = "< 0.2 s and ≤ 300 ops: " + h.met(t_sg < 0.2 and ops <= 300) if k == 8 else ""
        sec.add(k, h.secs(t_sg), ops, h.secs(t_sp), h.secs(t_cse), ops_sp, verdict, target)
    sec.notes.append(
        "symgrad: median of fresh builds of `sg.diff(g, x, k)` including building g; before each, "
        "gc.collect() and no live nodes, so every k starts from scratch (the intern table is weak: "
        "nothing from an earlier k survives). ops = `sg.operation_count([d])`."
    )
    sec.notes.append(
        "sympy: `sympy.diff(g, x, k)` with sympy's cache cleared before each run; ops = sum of "
        "`sympy.count_ops` over `sympy.cse(d)`'s replacements and reduced expression. The two "
        "counts are not identical measures: count_ops also counts subtraction, division and "
        "negation as operations, symgrad counts statements (n-ary sums/products as n-1)."
    )
    sec.notes.append("Agreement: symgrad's compiled derivative at x=0.7 vs sympy's evaluated to 30 digits.")
    return sec


# -- L --------------------------------------------------------------------------------------------


def bench_latency(repeat: int) -> h.Section:
    sec = h.Section(
        f"L: per-call latency, N6 = {wl.N6_TEXT}, called with two Python floats",
        ["callable", "µs / call", "result", "target"],
    )
    g, hs = wl.n6_symgrad()
    a, b = 0.3, -1.7
    gv, hv = np.asarray(g(a, b), dtype=float), np.asarray(hs(a, b), dtype=float)
    g_ok = np.allclose(gv, wl.n6_grad_exact(a, b))
    h_ok = np.allclose(hv, wl.n6_hess_exact(a, b))
    h.check(g_ok, "L: symgrad N6 gradient is wrong")
    h.check(h_ok, "L: symgrad N6 Hessian is wrong")
    t_g = h.per_call(lambda: g(a, b), repeat)
    t_h = h.per_call(lambda: hs(a, b), repeat)

    def target(t):
        return "≤ 5 µs: " + h.met(t <= 5e-6)

    sec.add(
        "symgrad `sg.grad(N6, argnums=(0, 1))`",
        h.us(t_g),
        f"tuple of floats ({'ok' if g_ok else 'WRONG'})",
        target(t_g),
    )
    sec.add(
        "symgrad `sg.hessian(N6, argnums=(0, 1))`",
        h.us(t_h),
        f"nested tuple ({'ok' if h_ok else 'WRONG'})",
        target(t_h),
    )
    for modules in ("numpy", "math"):
        lg, lh = wl.n6_sympy(modules)
        h.check(np.allclose(np.asarray(lg(a, b), dtype=float), gv), f"L: sympy ({modules}) N6 gradient disagrees")
        h.check(np.allclose(np.asarray(lh(a, b), dtype=float), hv), f"L: sympy ({modules}) N6 Hessian disagrees")
        sec.add(
            f"sympy lambdify gradient (modules={modules!r})",
            h.us(h.per_call(lambda lg=lg: lg(a, b), repeat)),
            "list",
            "",
        )
        sec.add(
            f"sympy lambdify Hessian Matrix (modules={modules!r})",
            h.us(h.per_call(lambda lh=lh: lh(a, b), repeat)),
            "ndarray" if modules == "numpy" else "list of lists",
            "",
        )
    sec.add(
        "(floor) a plain Python function returning a tuple", h.us(h.per_call(lambda: wl.pair(a, b), repeat)), "", ""
    )
    sec.notes.append(
        f"Median over repeats of timeit loops (autoranged to ≥ {h.MIN_LOOP_TIME} s each); the lambda around "
        "the call adds ~0.03 µs to every row alike. The machine's load shows most here: compare rows of one run."
    )
    return sec


# -- main -----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1e5 points, n up to 100, fewer repeats (< 30 s); prints only"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the markdown report (default: benchmarks/results.md for a full run, nowhere for --quick)",
    )
    args = parser.parse_args(argv)
    output = args.output or (None if args.quick else str(Path(__file__).with_name("results.md")))

    if args.quick:
        h.set_min_loop_time(0.05)
        npoints, sizes, sympy_sizes, repeat, budget = 10**5, [10, 30, 100], [10], 3, 1.0
    else:
        npoints, sizes, sympy_sizes, repeat, budget = 10**6, [10, 30, 100, 300, 1000], [10, 30], 7, 4.0

    started = time.perf_counter()
    load_start = h.load_average()
    # Warm up once (imports inside symgrad, template loading) so no first measurement pays for it.
    sg.grad(lambda u, v: sg.sin(u) * v)(0.5, 0.25)

    sections = [
        h.stage("W2", lambda: bench_w2(npoints, repeat)),
        h.stage("R", lambda: bench_rosenbrock(sizes, sympy_sizes, repeat, budget)),
        h.stage("K", lambda: bench_kth(8, repeat)),
        h.stage("L", lambda: bench_latency(repeat)),
    ]

    import sympy

    versions = [f"numpy {np.__version__}", f"sympy {sympy.__version__}", f"symgrad {sg.__version__}"]
    facts = [
        f"date: {h.timestamp()}",
        f"machine: {h.machine(versions + wl.peer_versions(['symengine', 'jax']))}",
        (
            f"mode: {'quick' if args.quick else 'full'} (repeats: {repeat}); "
            f"total run time {time.perf_counter() - started:.1f} s"
        ),
        (
            f"load average (1 min) at start / end: {load_start} / {h.load_average()} "
            "(other processes share the CPUs; compare rows within one run)"
        ),
        f"command: `python benchmarks/run.py{' --quick' if args.quick else ''}`",
    ]
    h.report("symgrad benchmarks", facts, sections, output)
    return h.exit_status()


if __name__ == "__main__":
    sys.exit(main())
