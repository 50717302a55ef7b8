"""symgrad against its peers, in one run.

    cd /work/main && PYTHONPATH=. python benchmarks/run.py           # full (< 5 min)
    cd /work/main && PYTHONPATH=. python benchmarks/run.py --quick   # smoke (< 30 s)

Measurements (each a function below):

- W2: value + gradient + Hessian of a 3-variable function at many points
  (symgrad compile vs sympy lambdify(cse=True) vs hand-written numpy, plus
  symengine's Lambdify and JAX when they are importable).
- R:  build time of the extended Rosenbrock Hessian (trace, differentiate,
  simplify, generate, first call) and its operation count, vs sympy for small n.
- K:  k-th derivative of a univariate function for k = 1..8: build time and
  operation count, vs sympy.diff (+ sympy.cse for the count).
- L:  per-call latency of a compiled gradient/Hessian called with Python floats.

Targets are printed next to the measured values; nothing is asserted.  Results
are printed as markdown and written to benchmarks/results.md.  Optional peers
that are not importable are skipped with a note, never faked.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy

import symgrad as sg

try:
    import symengine as se
except ImportError:  # optional peer
    se = None

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None


# -- timing helpers ---------------------------------------------------------------------


MIN_LOOP_TIME = 0.2  # seconds per timeit loop; --quick lowers it


def per_call(fn, repeat: int, min_time: float | None = None) -> float:
    """Median seconds per call, timeit-style: loops of ``number`` calls, ``repeat`` loops."""
    min_time = MIN_LOOP_TIME if min_time is None else min_time
    timer = timeit.Timer(fn)
    number, scale = 1, 1
    while timer.timeit(number) < min_time:  # timeit's autorange (1, 2, 5, 10, 20, ...) with a settable floor
        number = {1: 2, 2: 5, 5: 10}[number // scale] * scale
        scale *= 10 if number // scale == 10 else 1
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def fresh_timing(build, repeat: int, budget: float = math.inf) -> tuple[float, object, int]:
    """Median wall time of ``build()`` over up to ``repeat`` runs, each from a fresh state.

    Before each run: forget the previous result, collect garbage (symgrad's
    intern table is weak, so dead nodes really go), and clear symgrad's cache of
    compiled source and sympy's cache.  Stops early once the runs so far took
    ``budget`` seconds (at least one run).  Returns (median seconds, last result, runs).
    """
    times, result = [], None
    for _ in range(repeat):
        if sum(times) >= budget:
            break
        result = None
        _fresh_state()
        t0 = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result, len(times)


def _fresh_state() -> None:
    gc.collect()
    sg_runtime_clear_cache()
    sympy.core.cache.clear_cache()


def sg_runtime_clear_cache() -> None:
    try:
        from symgrad.backends.pyload import clear_cache
    except ImportError:  # an internal helper; without it a rebuild may reuse compiled source
        return
    clear_cache()


def ms(t: float) -> str:
    return f"{t * 1e3:.2f} ms"


def us(t: float) -> str:
    return f"{t * 1e6:.2f} µs"


def secs(t: float) -> str:
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1e3:.1f} ms"


# -- report -------------------------------------------------------------------------------


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


FAILURES: list[str] = []


def check(ok: bool, what: str) -> str:
    """Record a verification; a failure is printed loudly at once and again at the end."""
    if not ok:
        FAILURES.append(what)
        print(f"\n!!!!!! VERIFICATION FAILED: {what} !!!!!!\n", file=sys.stderr, flush=True)
    return "ok" if ok else "**FAILED**"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"sympy {sympy.__version__}",
        f"symgrad {sg.__version__}",
        f"symengine {se.__version__}" if se else "symengine not installed",
        f"jax {jax.__version__}" if jax else "jax not installed",
    ]
    return f"{platform.platform()}; {cpu}; {os.cpu_count()} CPUs; " + ", ".join(versions)


# -- W2: value + gradient + Hessian at many points ------------------------------------------


def w2_hand(x, y, z):
    """f, its 3 partials and its 6 unique second partials, derived by hand.

    f = A + B + C with A = sin(xy) e^{-z^2}, B = log(Q) tanh(z) (Q = 1+x^2+y^2),
    C = yz * g(x) with g = x/D (D = 1+x^2), g' = (1-x^2)/D^2, g'' = 2x(x^2-3)/D^3.
    """
    xy = x * y
    s = np.sin(xy)
    c = np.cos(xy)
    E = np.exp(-z * z)
    sE = s * E
    cE = c * E
    Q = 1.0 + x * x + y * y
    L = np.log(Q)
    T = np.tanh(z)
    S = 1.0 - T * T  # sech^2 z
    iQ = 1.0 / Q
    iQ2 = iQ * iQ
    D = 1.0 + x * x
    iD = 1.0 / D
    g0 = x * iD
    g1 = (1.0 - x * x) * iD * iD
    g2 = 2.0 * x * (x * x - 3.0) * iD * iD * iD
    yz = y * z
    m2z = -2.0 * z

    f = sE + L * T + yz * g0
    fx = y * cE + 2.0 * x * iQ * T + yz * g1
    fy = x * cE + 2.0 * y * iQ * T + z * g0
    fz = m2z * sE + L * S + y * g0
    fxx = -y * y * sE + 2.0 * T * (1.0 - x * x + y * y) * iQ2 + yz * g2
    fxy = cE - xy * sE - 4.0 * T * xy * iQ2 + z * g1
    fxz = m2z * y * cE + 2.0 * x * iQ * S + y * g1
    fyy = -x * x * sE + 2.0 * T * (1.0 + x * x - y * y) * iQ2
    fyz = m2z * x * cE + 2.0 * y * iQ * S + g0
    fzz = (4.0 * z * z - 2.0) * sE - 2.0 * L * T * S
    return f, fx, fy, fz, fxx, fxy, fxz, fyy, fyz, fzz


def _w2_canonical_hand(out):
    f, fx, fy, fz, fxx, fxy, fxz, fyy, fyz, fzz = out
    grad = np.stack([fx, fy, fz], axis=-1)
    hess = np.stack([np.stack(r, axis=-1) for r in ((fxx, fxy, fxz), (fxy, fyy, fyz), (fxz, fyz, fzz))], axis=-2)
    return f, grad, hess


def _w2_canonical_sympy(out):
    f, grad, hess = out
    grad = np.stack([np.broadcast_to(g, np.shape(f)) for g in grad], axis=-1)
    hess = np.moveaxis(np.asarray(hess, dtype=float), (0, 1), (-2, -1))
    return np.asarray(f), grad, hess


def _w2_close(a, b) -> bool:
    return all(np.allclose(u, v, rtol=1e-9, atol=1e-12) for u, v in zip(a, b))


def bench_w2(npoints: int, repeat: int) -> Section:
    sec = Section(
        f"W2: value + gradient + Hessian of a 3-variable f at {npoints:.0e} points (float64)",
        ["peer", "build", "ms / call", "symgrad ÷ peer", "agrees with symgrad", "target"],
    )
    rng = np.random.default_rng(0)
    X, Y, Z = (rng.uniform(0.5, 1.5, npoints) for _ in range(3))

    # (a) symgrad
    def build_sg():
        x, y, z = sg.symbols("x y z")
        f = sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)
        return sg.compile([f, sg.gradient(f, [x, y, z]), sg.hessian(f, [x, y, z])], inputs=[x, y, z])

    t_build_sg, c, _ = fresh_timing(build_sg, 1)
    ref = c(X, Y, Z)
    t_sg = per_call(lambda: c(X, Y, Z), repeat)

    # (a') the same kernel as C (one thread, and a thread per core)
    def build_c(**options):
        x, y, z = sg.symbols("x y z")
        f = sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)
        outs = [f, sg.gradient(f, [x, y, z]), sg.hessian(f, [x, y, z])]
        compiled = sg.compile(outs, inputs=[x, y, z], backend="c", **options)
        compiled(X[:10], Y[:10], Z[:10])  # build (or load from the disk cache) and load the library
        return compiled

    c_backend = {}
    try:
        for threads in (1, os.cpu_count() or 1):
            t_build_c, cc, _ = fresh_timing(lambda threads=threads: build_c(threads=threads), 1)
            ok_c = check(_w2_close(ref, cc(X, Y, Z)), f"W2: backend='c' (threads={threads}) vs numpy differ")
            c_backend[threads] = (t_build_c, per_call(lambda cc=cc: cc(X, Y, Z), repeat), ok_c)
    except sg.BackendError as exc:
        sec.notes.append(f"backend='c' unavailable here: {exc}")

    # (b) sympy lambdify with cse
    def build_sympy():
        x, y, z = sympy.symbols("x y z")
        f = sympy.sin(x * y) * sympy.exp(-(z**2)) + sympy.log(1 + x**2 + y**2) * sympy.tanh(z) + x * y * z / (1 + x**2)
        grad = [sympy.diff(f, v) for v in (x, y, z)]
        hess = sympy.hessian(f, (x, y, z))
        return sympy.lambdify((x, y, z), [f, grad, hess], modules="numpy", cse=True)

    t_build_sp, lam, _ = fresh_timing(build_sympy, 1)
    sp_out = _w2_canonical_sympy(lam(X, Y, Z))
    t_sp = per_call(lambda: lam(X, Y, Z), repeat)

    # (c) hand-written numpy
    hand_out = _w2_canonical_hand(w2_hand(X, Y, Z))
    t_hand = per_call(lambda: w2_hand(X, Y, Z), repeat)

    ok_sp = check(_w2_close(ref, sp_out), "W2: symgrad vs sympy.lambdify results differ")
    ok_hand = check(_w2_close(ref, hand_out), "W2: symgrad vs hand-written numpy results differ")
    check(_w2_close(sp_out, hand_out), "W2: sympy.lambdify vs hand-written numpy results differ")

    sec.add(
        "symgrad `sg.compile([f, grad, hess])`",
        secs(t_build_sg),
        ms(t_sg),
        "1.00",
        "—",
        f"{c.statement_count} statements in the kernel",
    )
    sec.add(
        "sympy `lambdify(cse=True)`",
        secs(t_build_sp),
        ms(t_sp),
        f"{t_sg / t_sp:.2f}",
        ok_sp,
        "symgrad ≤ sympy-cse: " + ("met" if t_sg <= t_sp else "**not met**"),
    )
    sec.add(
        "hand-written numpy (10 arrays)",
        "—",
        ms(t_hand),
        f"{t_sg / t_hand:.2f}",
        ok_hand,
        "symgrad ≤ 1.5× hand: " + ("met" if t_sg <= 1.5 * t_hand else "**not met**"),
    )

    for threads, (t_build_c, t_c, ok_c) in c_backend.items():
        sec.add(
            f"symgrad `backend='c'`, threads={threads}",
            secs(t_build_c),
            ms(t_c),
            f"{t_sg / t_c:.2f}",
            ok_c,
            f"{t_c / npoints * 1e9:.0f} ns/point",
        )

    # (d) symengine
    if se is None:
        sec.add("symengine Lambdify", "—", "skipped", "—", "—", "")
        sec.notes.append("symengine is not importable: skipped (pip install symengine).")
    else:
        stacked = np.ascontiguousarray(np.stack([X, Y, Z], axis=-1))

        def build_se(backend):
            x, y, z = se.symbols("x y z")
            f = se.sin(x * y) * se.exp(-(z**2)) + se.log(1 + x**2 + y**2) * se.tanh(z) + x * y * z / (1 + x**2)
            grad = [se.diff(f, v) for v in (x, y, z)]
            hess = [[se.diff(f, a, b) for b in (x, y, z)] for a in (x, y, z)]
            kw = {"backend": backend} if backend else {}
            return se.Lambdify([x, y, z], f, grad, hess, cse=True, **kw)

        backend = "llvm"
        try:
            t_build_se, lse, _ = fresh_timing(lambda: build_se("llvm"), 1)
        except (ValueError, RuntimeError, TypeError) as exc:
            backend = "lambda (default)"
            sec.notes.append(f"symengine's llvm backend is unavailable ({exc}); used the default backend.")
            t_build_se, lse, _ = fresh_timing(lambda: build_se(None), 1)
        se_out = lse(stacked)
        ok_se = check(_w2_close(ref, se_out), f"W2: symgrad vs symengine ({backend}) results differ")
        t_se = per_call(lambda: lse(stacked), repeat)
        c_target = ""
        if 1 in c_backend:
            t_c1 = c_backend[1][1]
            met = "met" if t_c1 <= t_se else "**not met**"
            c_target = f"{t_se / npoints * 1e9:.0f} ns/point; backend='c' (1 thread) ≤ symengine: {met}"
        sec.add(
            f"symengine `Lambdify(cse=True, backend={backend!r})`",
            secs(t_build_se),
            ms(t_se),
            f"{t_sg / t_se:.2f}",
            ok_se,
            c_target,
        )
        sec.notes.append(
            "symengine is called with its native input layout, one (N, 3) array stacked "
            "once outside the timing (stacking costs about "
            f"{ms(per_call(lambda: np.stack([X, Y, Z], axis=-1), max(3, repeat // 2)))})."
        )

    # (e) JAX
    if jax is None:
        sec.add("JAX (jit of value, grad, hessian)", "—", "skipped", "—", "—", "")
        sec.notes.append("JAX is not importable: skipped.")
    else:  # pragma: no cover - not installed where this was written
        jax.config.update("jax_enable_x64", True)

        def fj(v):
            x, y, z = v
            return jnp.sin(x * y) * jnp.exp(-(z**2)) + jnp.log(1 + x**2 + y**2) * jnp.tanh(z) + x * y * z / (1 + x**2)

        vfun = jax.jit(jax.vmap(lambda v: (fj(v), jax.grad(fj)(v), jax.hessian(fj)(v))))
        V = jnp.asarray(np.stack([X, Y, Z], axis=-1))
        jout = [np.asarray(o) for o in vfun(V)]
        ok_j = check(_w2_close(ref, jout), "W2: symgrad vs JAX results differ")
        t_j = per_call(lambda: [o.block_until_ready() for o in vfun(V)], repeat)
        sec.add("JAX jit(vmap(value, grad, hessian)), CPU", "—", ms(t_j), f"{t_sg / t_j:.2f}", ok_j, "")

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


# -- R: Rosenbrock Hessian build ----------------------------------------------------------------


def rosenbrock(x):
    n = len(x)
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))


def rosenbrock_hessian_exact(x0: np.ndarray) -> np.ndarray:
    """The known tridiagonal Hessian of the extended Rosenbrock function."""
    n = len(x0)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x0[i] ** 2 - 400 * x0[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x0[i]
    return H


def rosenbrock_grad_numpy(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * t - 2 * (1 - x[:-1])
    g[1:] += 200 * t
    return g


def fd_hessian(grad, x0: np.ndarray, h: float = 1e-6) -> np.ndarray:
    n = len(x0)
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        H[:, j] = (grad(x0 + e) - grad(x0 - e)) / (2 * h)
    return 0.5 * (H + H.T)


def bench_rosenbrock(sizes: list[int], sympy_sizes: list[int], repeat: int, budget: float) -> Section:
    sec = Section(
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

        def build_fn(n=n, x0=x0, call_times=call_times):
            H = sg.hessian(rosenbrock, shapes={"x": (n,)})
            t0 = time.perf_counter()
            value = H(x0)
            call_times.append(time.perf_counter() - t0)
            return H, value

        t_total, (H, value), runs = fresh_timing(build_fn, repeat, budget)
        t_call = statistics.median(call_times)
        entries = list(np.asarray(H.outputs, dtype=object).reshape(-1))
        ops = sg.operation_count(entries)
        steps = H.statement_count
        del H, entries

        # The same pipeline through the expression API, timed phase by phase.
        phase_times: list[tuple[float, ...]] = []

        def build_phases(n=n, x0=x0, phase_times=phase_times):
            t0 = time.perf_counter()
            xs = sg.symbols("x", shape=(n,))
            f = rosenbrock(xs)
            t1 = time.perf_counter()
            Hs = sg.hessian(f, xs)
            t2 = time.perf_counter()
            c = sg.compile(Hs, inputs=[xs])
            t3 = time.perf_counter()
            c(x0)
            t4 = time.perf_counter()
            phase_times.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))

        if t_total < 20:  # a build of a minute (older symgrad at n = 1000) is not worth repeating
            fresh_timing(build_phases, runs, budget)
        phases = [statistics.median(p) for p in zip(*phase_times)]

        exact = rosenbrock_hessian_exact(x0)
        ok = np.allclose(value, exact, rtol=1e-12, atol=1e-9)
        verdict = check(ok, f"R: symgrad Rosenbrock Hessian (n={n}) differs from the analytic tridiagonal one")
        if n == 10:
            fd = fd_hessian(rosenbrock_grad_numpy, x0)
            check(
                np.allclose(value, fd, rtol=1e-6, atol=1e-4),
                "R: symgrad Rosenbrock Hessian (n=10) differs from finite differences of the numpy gradient",
            )
        target = ""
        if n == 300:
            target = "< 0.5 s: " + ("met" if t_total < 0.5 else "**not met**")
        sec.add(
            n,
            f"symgrad, median of {runs} (Hessian {verdict})",
            secs(t_total),
            secs(t_call),
            ops,
            steps,
            f"{t_total / ops * 1e6:.1f}",
            f"{n * n} ({3 * n - 2})",
            " / ".join(secs(p) for p in phases) if phases else "skipped (build > 20 s)",
            target,
        )
        del value
        gc.collect()

    for n in sympy_sizes:
        x0 = rng.uniform(-1.5, 1.5, n)

        def build_sympy(n=n, x0=x0):
            xs = sympy.symbols(f"x0:{n}")
            f = rosenbrock(xs)
            t0 = time.perf_counter()
            Hm = sympy.hessian(f, xs)
            t1 = time.perf_counter()
            lam = sympy.lambdify([xs], Hm, modules="numpy", cse=True)
            t2 = time.perf_counter()
            value = lam(x0)
            t3 = time.perf_counter()
            return Hm, value, (t0, t1, t2, t3)

        t_total, (Hm, value, (t0, t1, t2, t3)), _ = fresh_timing(build_sympy, 1)
        replacements, reduced = sympy.cse(list(Hm))
        ops = sum(sympy.count_ops(r) for _, r in replacements) + sum(sympy.count_ops(e) for e in reduced)
        ok = np.allclose(np.asarray(value, dtype=float), rosenbrock_hessian_exact(x0), rtol=1e-12, atol=1e-9)
        verdict = check(ok, f"R: sympy Rosenbrock Hessian (n={n}) differs from the analytic one")
        sec.add(
            n,
            f"sympy hessian + lambdify(cse) ({verdict})",
            secs(t_total),
            secs(t3 - t2),
            f"{ops} (count_ops after cse)",
            "—",
            f"{t_total / max(ops, 1) * 1e6:.1f}",
            f"{n * n} ({3 * n - 2})",
            f"diff {secs(t1 - t0)} / lambdify {secs(t2 - t1)} / call {secs(t3 - t2)}",
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


# -- K: k-th derivatives of a univariate function ------------------------------------------------


def bench_kth(max_k: int, repeat: int) -> Section:
    sec = Section(
        "K: k-th derivative of g(x) = exp(sin(x))*x**2/(1+x**2)",
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
    xs_ = sympy.Symbol("x")
    g_sp = sympy.exp(sympy.sin(xs_)) * xs_**2 / (1 + xs_**2)
    for k in range(1, max_k + 1):

        def build_sg(k=k):
            x = sg.symbols("x")
            g = sg.exp(sg.sin(x)) * x**2 / (1 + x**2)
            return x, sg.diff(g, x, k)

        t_sg, (x, d), _ = fresh_timing(build_sg, repeat)
        ops = sg.operation_count([d])
        value = sg.compile(d, inputs=[x])(0.7)
        del x, d

        t_sp, d_sp, _ = fresh_timing(lambda k=k: sympy.diff(g_sp, xs_, k), max(1, repeat // 2))
        t0 = time.perf_counter()
        replacements, reduced = sympy.cse(d_sp)
        t_cse = time.perf_counter() - t0
        ops_sp = sum(sympy.count_ops(r) for _, r in replacements) + sum(sympy.count_ops(e) for e in reduced)
        exact = float(d_sp.evalf(30, subs={xs_: sympy.Rational(7, 10)}))
        ok = abs(value - exact) <= 1e-9 * abs(exact)
        verdict = check(ok, f"K: symgrad d^{k}g/dx^{k}(0.7) = {value!r}, sympy says {exact!r}")
        target = ""
        if k == 8:
            target = "< 0.2 s and ≤ 300 ops: " + ("met" if t_sg < 0.2 and ops <= 300 else "**not met**")
        sec.add(k, secs(t_sg), ops, secs(t_sp), secs(t_cse), ops_sp, verdict, target)
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


# -- L: per-call latency with Python floats ------------------------------------------------------


def _pair(p, q):
    return (p, q)


def n6(x1, x2):
    return x1**3 + x2**2 + 4 * x1 * x2 + 5


def bench_latency(repeat: int) -> Section:
    sec = Section(
        "L: per-call latency, N6 = x1**3 + x2**2 + 4*x1*x2 + 5, called with two Python floats",
        ["callable", "µs / call", "result", "target"],
    )
    g = sg.grad(n6, argnums=(0, 1))
    h = sg.hessian(n6, argnums=(0, 1))
    a, b = 0.3, -1.7
    gv, hv = g(a, b), h(a, b)
    g_ok = np.allclose(np.asarray(gv, dtype=float), [3 * a**2 + 4 * b, 2 * b + 4 * a])
    h_ok = np.allclose(np.asarray(hv, dtype=float), [[6 * a, 4], [4, 2]])
    check(g_ok, "L: symgrad N6 gradient is wrong")
    check(h_ok, "L: symgrad N6 Hessian is wrong")
    t_g = per_call(lambda: g(a, b), repeat)
    t_h = per_call(lambda: h(a, b), repeat)

    def target(t):
        return "≤ 5 µs: " + ("met" if t <= 5e-6 else "**not met**")

    sec.add(
        "symgrad `sg.grad(N6, argnums=(0, 1))`", us(t_g), f"tuple of floats ({'ok' if g_ok else 'WRONG'})", target(t_g)
    )
    sec.add(
        "symgrad `sg.hessian(N6, argnums=(0, 1))`", us(t_h), f"nested tuple ({'ok' if h_ok else 'WRONG'})", target(t_h)
    )

    x1, x2 = sympy.symbols("x1 x2")
    e = n6(x1, x2)
    grad_e = [sympy.diff(e, v) for v in (x1, x2)]
    hess_e = sympy.hessian(e, (x1, x2))
    for modules in ("numpy", "math"):
        lg = sympy.lambdify((x1, x2), grad_e, modules=modules)
        lh = sympy.lambdify((x1, x2), hess_e if modules == "numpy" else hess_e.tolist(), modules=modules)
        check(
            np.allclose(np.asarray(lg(a, b), dtype=float), np.asarray(gv, dtype=float)),
            f"L: sympy ({modules}) N6 gradient disagrees with symgrad",
        )
        check(
            np.allclose(np.asarray(lh(a, b), dtype=float), np.asarray(hv, dtype=float)),
            f"L: sympy ({modules}) N6 Hessian disagrees with symgrad",
        )
        sec.add(
            f"sympy lambdify gradient (modules={modules!r})", us(per_call(lambda lg=lg: lg(a, b), repeat)), "list", ""
        )
        sec.add(
            f"sympy lambdify Hessian Matrix (modules={modules!r})",
            us(per_call(lambda lh=lh: lh(a, b), repeat)),
            "ndarray" if modules == "numpy" else "list of lists",
            "",
        )
    sec.add("(floor) a plain Python function returning a tuple", us(per_call(lambda: _pair(a, b), repeat)), "", "")
    sec.notes.append(
        f"Median over repeats of timeit loops (autoranged to ≥ {MIN_LOOP_TIME} s each); the lambda around "
        "the call adds ~0.03 µs to every row alike. The machine's load shows most here: compare rows of one run."
    )
    return sec


# -- main -------------------------------------------------------------------------------------------


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1e5 points, n up to 100, fewer repeats (< 30 s)"
    )
    parser.add_argument(
        "--output",
        default=str(Path(__file__).with_name("results.md")),
        help="where to write the markdown report (default: benchmarks/results.md)",
    )
    args = parser.parse_args(argv)

    global MIN_LOOP_TIME
    if args.quick:
        MIN_LOOP_TIME = 0.05
        npoints, sizes, sympy_sizes, repeat = 10**5, [10, 30, 100], [10], 3
    else:
        npoints, sizes, sympy_sizes, repeat = 10**6, [10, 30, 100, 300, 1000], [10, 30], 7

    started = time.perf_counter()
    load_start = _load()
    # Warm up once (imports inside symgrad, template loading) so no first measurement pays for it.
    sg.grad(lambda u, v: sg.sin(u) * v)(0.5, 0.25)

    sections = []
    for name, run in (
        ("W2", lambda: bench_w2(npoints, repeat)),
        ("R", lambda: bench_rosenbrock(sizes, sympy_sizes, repeat, budget=1.0 if args.quick else 4.0)),
        ("K", lambda: bench_kth(8, repeat)),
        ("L", lambda: bench_latency(repeat)),
    ):
        t0 = time.perf_counter()
        print(f"[{name}] running...", file=sys.stderr, flush=True)
        sections.append(run())
        print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    elapsed = time.perf_counter() - started
    header = [
        "# symgrad benchmarks",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- mode: {'quick' if args.quick else 'full'} (repeats: {repeat}); total run time {elapsed:.1f} s",
        f"- load average (1 min) at start / end: {load_start} / {_load()} "
        + "(other processes share the CPUs; compare rows within one run)",
        f"- command: `PYTHONPATH=. python benchmarks/run.py{' --quick' if args.quick else ''}`",
    ]
    if FAILURES:
        header.append("- **VERIFICATION FAILURES:** " + "; ".join(FAILURES))
    else:
        header.append("- all result verifications passed")
    report = "\n".join(header) + "\n\n" + "\n\n".join(s.markdown() for s in sections) + "\n"
    print(report)
    Path(args.output).write_text(report, encoding="utf-8")
    print(f"written to {args.output}", file=sys.stderr)
    if FAILURES:
        print("\n!!!!!! " + str(len(FAILURES)) + " VERIFICATION FAILURE(S) — see above !!!!!!", file=sys.stderr)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
