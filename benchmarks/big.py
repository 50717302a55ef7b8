"""Issue 15's rows: huge graphs through both backends, and W2 on the vectorised C kernel.

    python benchmarks/big.py              # chain gradient 1e3 / 1e4 steps, 1e5-statement C compile, W2 at 1e6
    python benchmarks/big.py --full       # also the chain gradient at 1e5 steps
    python benchmarks/big.py --quick      # small sizes, seconds

- G: the chain ``y <- 0.5*sin(y) + 0.9*y (+ x every 7th step)``, ``sg.grad`` built and
  called once on a float (build = trace + differentiate + generate; first call = the
  numpy backend's tape or compile, or the C compile into a cold cache, and the call),
  then on 1,000 points; CasADi SX ``gradient`` + ``Function`` + call where installed.
  Each row runs in a fresh process: peak RSS is its own; for C the compiler process
  tree's peak RSS is polled from /proc.
- C: a kernel of about 10^5 statements (a forward chain of 34,000 steps) compiled into
  a cold cache: compile time and the compiler tree's peak RSS.
- W2: value + gradient + Hessian at 10^6 points, float64: the C backend with 1 and 2
  threads, the numpy backend, hand-written numpy, symengine's LLVM Lambdify where
  installed (it is not a dependency: put it on PYTHONPATH).
Every result is checked (the chain against a forward accumulation, W2 across peers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

import harness as h
import numpy as np
import workloads as wl

import symgrad as sg


def _tree_rss(root: int) -> int:
    """Resident bytes of every process descending from ``root`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0, list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


class TreePeak:
    """Polls the peak RSS of this process's descendants (the compiler tree) while it is open."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            self._stop.wait(0.05)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def child_chain(n: int, backend: str) -> dict:
    os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="sg-big-")  # a cold compile
    # a 300-step chain first, timed apart: a fresh process's one-time costs (jinja2's import at the first
    # template; on C the tape interpreter's compile, once per machine) are not the graph's, as CasADi's
    # import is not in its rows
    t0 = time.perf_counter()
    sg.grad(lambda x: wl.gchain(x, 300), backend=backend)(0.3)
    vm = time.perf_counter() - t0
    laps = h.Laps()
    g = sg.grad(lambda x: wl.gchain(x, n), backend=backend)
    laps.lap("build")
    with TreePeak() as tree:
        value = g(0.3)
        laps.lap("first call")
    array = g(np.full(1000, 0.3))
    laps.lap("1000-point call")
    want = wl.gchain_reference(0.3, n)[1]
    ok = bool(np.isclose(value, want, rtol=1e-9) and np.allclose(array, want, rtol=1e-9))
    return {
        **laps.times,
        "steps": g.statement_count,
        "rss": h.peak_rss_mib(),
        "tree": tree.peak >> 20,
        "vm": vm,
        "ok": ok,
    }


def child_casadi(n: int) -> dict:
    laps = h.Laps()
    fn = wl.gchain_casadi(n)
    laps.lap("build")
    value = float(fn(0.3))
    laps.lap("first call")
    ok = bool(np.isclose(value, wl.gchain_reference(0.3, n)[1], rtol=1e-9))
    return {**laps.times, "steps": fn.n_nodes(), "rss": h.peak_rss_mib(), "tree": 0, "ok": ok}


def child_rosenbrock(n: int, tool: str) -> dict:
    """Build + first call of the Rosenbrock Hessian (tracing included) by one tool, in this fresh process.

    The tool first builds and calls the n = 3 problem once, so one-time costs of a
    fresh process (jinja2's import and templates, CasADi's plugins) are not in the row.
    """

    def build_and_call(size: int, laps: h.Laps | None = None) -> np.ndarray:
        x0 = np.linspace(-1.2, 1.2, size)
        if tool.startswith("casadi"):
            fn = wl.rosenbrock_casadi(size, vectorised=tool == "casadi-vector")
        else:
            fn = sg.hessian(wl.rosenbrock, shapes={"x": (size,)}, sparse=tool == "sparse")
        if laps is not None:
            laps.lap("build")
        value = fn(x0)
        if laps is not None:
            laps.lap("first call")
        if tool.startswith("casadi"):
            return np.asarray(value.full())
        return value.todense() if tool == "sparse" else np.asarray(value)

    build_and_call(3)
    laps = h.Laps()
    value = build_and_call(n, laps)
    x0 = np.linspace(-1.2, 1.2, n)
    ok = bool(np.allclose(value, wl.rosenbrock_hessian_exact(x0), rtol=1e-12, atol=1e-9))
    return {**laps.times, "rss": h.peak_rss_mib(), "ok": ok}


def child_compile(steps: int) -> dict:
    os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="sg-big-")
    os.environ["SYMGRAD_C_TAPE_STATEMENTS"] = str(10**9)  # the per-graph compile, not the tape interpreter
    x = sg.symbols("x")
    y = wl.chain(x, steps)
    f = sg.compile(y, inputs=[x], backend="c", threads=2)
    with TreePeak() as tree:
        t0 = time.perf_counter()
        got = f(np.full(4, 0.3))
        elapsed = time.perf_counter() - t0
    ok = bool(np.allclose(got, wl.chain_numpy(0.3, steps)[0], rtol=1e-12))
    return {
        "compile": elapsed,
        "statements": f.statement_count,
        "units": len(f.kernel.units),
        "tree": tree.peak >> 20,
        "ok": ok,
    }


def bench_chain(sizes: list[int]) -> h.Section:
    sec = h.Section(
        "G: chain gradient, build + first call (fresh process each)",
        [
            "steps",
            "tool",
            "kernel statements",
            "build",
            "first call",
            "build + first call",
            "1000-point call",
            "peak RSS",
            "compiler tree peak RSS",
        ],
    )
    for n in sizes:
        for tool in ("numpy", "c", "casadi"):
            if tool == "casadi" and wl.peer("casadi") is None:
                continue
            row = h.run_child(__file__, "--child", "chain", str(n), tool)
            h.check(row.pop("ok"), f"G: {tool} at {n} steps differs from the forward accumulation")
            total = row["build"] + row["first call"]
            name = {"numpy": "symgrad numpy", "c": "symgrad C", "casadi": "CasADi SX gradient + Function"}[tool]
            call = h.secs(row["1000-point call"]) if "1000-point call" in row else "—"
            tree = f"{row['tree']} MiB" if tool == "c" and row["tree"] else "—"
            sec.add(
                n,
                name,
                row["steps"],
                h.secs(row["build"]),
                h.secs(row["first call"]),
                h.secs(total),
                call,
                f"{row['rss']} MiB",
                tree,
            )
            print(json.dumps({"n": n, "tool": tool, **row}), flush=True)
    sec.notes.append(
        "C rows use a fresh cache directory. Every symgrad child first builds and calls a 300-step chain, timed "
        "apart ('vm' in the JSON lines): the process's one-time costs (jinja2's import; on C the tape interpreter, "
        "which past C_TAPE_STATEMENTS (2,000) runs a kernel instead of a per-graph compile, compiled once per "
        "machine, then from the disk cache), so a row holds the per-graph costs only, as CasADi's rows hold no "
        "import or compile of its virtual machine."
    )
    if wl.peer("casadi") is None:
        sec.notes.append("CasADi not installed: its rows are skipped.")
    return sec


ROSENBROCK_TOOLS = {
    "dense": "symgrad `sg.hessian(rosenbrock, shapes=...)`, n x n result",
    "sparse": "symgrad, `sparse=True`",
    "casadi": "CasADi SX `hessian` + `Function`, the same scalar function traced",
    "casadi-vector": "CasADi SX, written with CasADi's vector slices",
}


def bench_rosenbrock(sizes: list[int]) -> h.Section:
    sec = h.Section(
        "R: Rosenbrock Hessian, tracing + build + first call (fresh process each)",
        ["n", "tool", "build (incl. tracing)", "first call", "build + first call", "peak RSS"],
    )
    for n in sizes:
        for tool, name in ROSENBROCK_TOOLS.items():
            if tool.startswith("casadi") and wl.peer("casadi") is None:
                continue
            row = h.run_child(__file__, "--child", "rosenbrock", str(n), tool)
            h.check(row.pop("ok"), f"R: {tool} at n={n} differs from the exact tridiagonal Hessian")
            total = row["build"] + row["first call"]
            sec.add(n, name, h.secs(row["build"]), h.secs(row["first call"]), h.secs(total), f"{row['rss']} MiB")
            print(json.dumps({"n": n, "tool": tool, **row}), flush=True)
    sec.notes.append(
        "The user function is `benchmarks/workloads.py rosenbrock`, a Python sum over scalar entries; each tool "
        "builds and calls the n = 3 problem once first, so a fresh process's one-time costs are not in the rows; "
        "'first call' stops when the tool returns its result (symgrad's dense ndarray, its SparseHessian, CasADi's DM)."
    )
    if wl.peer("casadi") is None:
        sec.notes.append("CasADi not installed: its rows are skipped.")
    return sec


def bench_compile(steps: int) -> h.Section:
    sec = h.Section(
        "C: a 10^5-statement kernel compiled",
        ["statements", "translation units", "compile + first call", "compiler tree peak RSS", "target"],
    )
    row = h.run_child(__file__, "--child", "compile", str(steps))
    h.check(row.pop("ok"), "C: the long chain's value differs from numpy's")
    sec.add(
        row["statements"],
        row["units"],
        h.secs(row["compile"]),
        f"{row['tree']} MiB",
        "≤ 30 s and ≤ 2 GB: " + h.met(row["compile"] <= 30 and row["tree"] <= 2048),
    )
    print(json.dumps(row), flush=True)
    return sec


def bench_w2(npoints: int, repeat: int) -> h.Section:
    from symgrad.backends import vecmath

    sec = h.Section(
        f"W2 at {npoints:.0e} points, float64",
        ["kernel", "ms / call", "ns / point", "vs C 1 thread", "agrees", "target"],
    )
    X, Y, Z = wl.w2_points(npoints)
    ref = wl.w2_symgrad()(X, Y, Z)
    rows = {}
    for threads in (1, 2):
        c = wl.w2_symgrad("c", threads=threads)
        ok = h.check(wl.w2_close(ref, c(X, Y, Z)), f"W2: C threads={threads} differs")
        rows[f"symgrad C, threads={threads}"] = (h.per_call(lambda c=c: c(X, Y, Z), repeat), ok)
    numpy_fn = wl.w2_symgrad()
    rows["symgrad numpy backend"] = (h.per_call(lambda: numpy_fn(X, Y, Z), repeat), "ok")
    ok = h.check(wl.w2_close(ref, wl.w2_hand_canonical(wl.w2_hand(X, Y, Z))), "W2: hand numpy differs")
    rows["hand-written numpy"] = (h.per_call(lambda: wl.w2_hand(X, Y, Z), repeat), ok)
    if wl.peer("symengine") is not None:
        stacked = wl.w2_stacked(X, Y, Z)
        lse = wl.w2_symengine("llvm")
        ok = h.check(wl.w2_close(ref, lse(stacked)), "W2: symengine differs")
        rows["symengine Lambdify(backend='llvm')"] = (h.per_call(lambda: lse(stacked), repeat), ok)
    else:
        sec.notes.append(
            "symengine not importable: its row is skipped (pip install --target DIR symengine; PYTHONPATH=DIR)."
        )
    c1 = rows["symgrad C, threads=1"][0]
    targets = {
        "symgrad C, threads=2": lambda t: f"≥ 1.8× 1 thread: {h.met(c1 / t >= 1.8)}",
        "hand-written numpy": lambda t: f"C ≤ 0.6× this: {h.met(c1 <= 0.6 * t)}",
        "symengine Lambdify(backend='llvm')": lambda t: f"C ≤ 0.5× this: {h.met(c1 <= 0.5 * t)}",
    }
    for name, (t, ok) in rows.items():
        sec.add(name, h.ms(t), f"{t / npoints * 1e9:.1f}", f"{t / c1:.2f}", ok, targets.get(name, lambda t: "")(t))
    sec.notes.append(
        f"vector math: {vecmath.library()} ({', '.join(vecmath.functions('float64')) or 'none'}); ISA flags: {' '.join(vecmath.isa_flags()) or 'none'}."
    )
    sec.notes.append(
        "ms / call: median over repeats of timeit loops; threads=2 shares the machine's two cores with whatever else runs (see the load)."
    )
    return sec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--output", default=None)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "chain":
            row = child_casadi(int(rest[0])) if rest[1] == "casadi" else child_chain(int(rest[0]), rest[1])
        elif kind == "rosenbrock":
            row = child_rosenbrock(int(rest[0]), rest[1])
        else:
            row = child_compile(int(rest[0]))
        print(json.dumps(row))
        return 0
    start, load0 = time.perf_counter(), h.load_average()
    sizes = [300, 1000] if args.quick else [1_000, 10_000] + ([100_000] if args.full else [])
    sections = [
        h.stage("G", lambda: bench_chain(sizes)),
        h.stage("R", lambda: bench_rosenbrock([100, 300] if args.quick else [300, 1000, 3000])),
        h.stage("C", lambda: bench_compile(3_000 if args.quick else 34_000)),
        h.stage("W2", lambda: bench_w2(10**5 if args.quick else 10**6, 3 if args.quick else 7)),
    ]
    facts = [
        f"date: {h.timestamp()}",
        f"machine: {h.machine(wl.peer_versions(['symengine', 'casadi']))}",
        f"load average (1 min) at start / end: {load0} / {h.load_average()}; total {time.perf_counter() - start:.0f} s",
        f"command: `python benchmarks/big.py{' --quick' if args.quick else ''}{' --full' if args.full else ''}`",
    ]
    h.report("symgrad on huge graphs and SIMD kernels (issue 15)", facts, sections, args.output)
    return h.exit_status()


if __name__ == "__main__":
    sys.exit(main())
