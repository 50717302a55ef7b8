"""The benchmarks' harness and workloads: each workload once at a tiny size, checked numerically.

A broken workload definition (a wrong hand derivative, a peer's form that drifted
from symgrad's) fails here rather than in a long benchmark run; the drivers are
run end to end on tiny sizes; benchmarks/ holds no absolute path of a machine.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

import symgrad as sg


def _root() -> Path:
    here = Path(__file__).resolve()
    return next(p for p in here.parents if (p / "pyproject.toml").exists())


BENCH = _root() / "benchmarks"
sys.path.insert(0, str(BENCH))  # the drivers import harness and workloads as top-level modules

import harness as h
import workloads as wl


def _driver(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fast_harness(monkeypatch):
    """Tiny timing loops, and a verification list of this test's own."""
    monkeypatch.setattr(h, "MIN_LOOP_TIME", 1e-4)
    monkeypatch.setattr(h, "FAILURES", [])
    return h


# -- W2 -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def w2_case():
    X, Y, Z = wl.w2_points(64)
    return (X, Y, Z), wl.w2_symgrad()(X, Y, Z)


def test_w2_symgrad_matches_hand_sympy_and_numpy(w2_case):
    (X, Y, Z), ref = w2_case
    f, grad, hess = ref
    assert f.shape == (64,) and grad.shape == (64, 3) and hess.shape == (64, 3, 3)
    assert np.allclose(f, wl.w2(X, Y, Z, np), rtol=1e-13)
    assert wl.w2_close(ref, wl.w2_hand_canonical(wl.w2_hand(X, Y, Z)))
    assert wl.w2_close(ref, wl.w2_sympy_canonical(wl.w2_sympy()(X, Y, Z)))
    assert wl.w2_close(wl.w2_flat(*ref), wl.w2_by_transforms(X, Y, Z))


def test_w2_hand_derivation_is_not_trivially_equal(w2_case):
    """The comparison has teeth: one changed hand step is caught."""
    (X, Y, Z), ref = w2_case
    steps = dict(wl.W2_HAND_STEPS)
    steps["g2"] = "2 * x * (x * x + 3) * iD * iD * iD"  # a sign slip in g''
    slipped, _ = wl.w2_hand_numpy(list(steps.items()))
    assert not wl.w2_close(ref, wl.w2_hand_canonical(slipped(X, Y, Z)))


def test_w2_cuda_kernel_source_writes_each_output_once():
    inputs, outputs, body = wl.w2_hand_cuda_source()
    assert inputs == "T x, T y, T z"
    names = [o.removeprefix("T ") for o in outputs.split(", ")]
    assert names == list(wl.W2_FLAT_NAMES)
    assigned = [re.match(r"(?:T )?(\w+) = ", line).group(1) for line in body.splitlines()]
    for name in names:
        assert assigned.count(name) == 1, name
    declared = {line.split()[1] for line in body.splitlines() if line.startswith("T ")}
    assert not declared & set(names)  # outputs are kernel parameters, not locals
    assert "T" not in assigned  # a local named T would shadow the kernel's type


def test_w2_c_backend(w2_case):
    (X, Y, Z), ref = w2_case
    try:
        got = wl.w2_symgrad("c", threads=2)(X, Y, Z)
    except sg.BackendError as exc:
        pytest.skip(f"backend='c' unavailable: {exc}")
    assert wl.w2_close(ref, got)


@pytest.mark.parametrize("name", ["symengine", "jax"])
def test_w2_optional_peers(w2_case, name):
    (X, Y, Z), ref = w2_case
    if wl.peer(name) is None:
        assert f"{name} not installed" in wl.peer_versions([name])
        with pytest.raises(ImportError, match="not installed"):
            wl.w2_symengine() if name == "symengine" else wl.w2_jax()
        return
    if name == "symengine":
        try:
            lam = wl.w2_symengine("llvm")
        except (ValueError, RuntimeError, TypeError):
            lam = wl.w2_symengine(None)
        got = lam(wl.w2_stacked(X, Y, Z))
    else:
        got = [np.asarray(o) for o in wl.w2_jax()(wl.peer("jax").numpy.asarray(wl.w2_stacked(X, Y, Z)))]
    assert wl.w2_close(ref, got)


# -- R, K, L, S --------------------------------------------------------------------------------


def test_rosenbrock_symgrad_and_sympy():
    x0 = np.random.default_rng(1).uniform(-1.5, 1.5, 6)
    exact = wl.rosenbrock_hessian_exact(x0)
    assert np.allclose(wl.rosenbrock_symgrad(6)(x0), exact, rtol=1e-12, atol=1e-9)
    assert np.allclose(wl.fd_hessian(wl.rosenbrock_grad_numpy, x0), exact, rtol=1e-6, atol=1e-4)
    laps = h.Laps()
    assert np.allclose(wl.rosenbrock_phases(6, x0, laps.lap), exact, rtol=1e-12, atol=1e-9)
    assert list(laps.times) == ["trace", "diff", "generate", "call"]
    laps = h.Laps()
    Hm, value = wl.rosenbrock_sympy(4, x0[:4], laps.lap)
    assert np.allclose(value, wl.rosenbrock_hessian_exact(x0[:4]), rtol=1e-12, atol=1e-9)
    assert wl.cse_ops(wl.sympy_cse(list(Hm))) > 0 and list(laps.times) == ["setup", "diff", "lambdify", "call"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_kth_symgrad_matches_sympy(k):
    x, d = wl.kth_symgrad(k)
    xs = wl.kth_sympy_symbol()
    exact = wl.kth_sympy_value(wl.kth_sympy(k, xs), xs)
    assert sg.compile(d, inputs=[x])(0.7) == pytest.approx(exact, rel=1e-9)


def test_titles_match_the_functions():
    x, x1, x2 = sympy.symbols("x x1 x2")
    assert sympy.simplify(sympy.sympify(wl.KTH_TEXT) - wl.kth_g(x, sympy)) == 0
    assert sympy.expand(sympy.sympify(wl.N6_TEXT) - wl.n6(x1, x2)) == 0


def test_latency_workload():
    g, hs = wl.n6_symgrad()
    a, b = 0.3, -1.7
    assert np.allclose(np.asarray(g(a, b), dtype=float), wl.n6_grad_exact(a, b))
    assert np.allclose(np.asarray(hs(a, b), dtype=float), wl.n6_hess_exact(a, b))
    for modules in ("numpy", "math"):
        lg, lh = wl.n6_sympy(modules)
        assert np.allclose(np.asarray(lg(a, b), dtype=float), wl.n6_grad_exact(a, b))
        assert np.allclose(np.asarray(lh(a, b), dtype=float), wl.n6_hess_exact(a, b))


def test_chain_stages_match_numpy():
    laps = h.Laps()
    result = wl.chain_stages(40, laps.lap, points=5)
    assert list(laps.times) == ["trace", "diff", "generate", "numpy compile+run", "scalar compile+run"]
    want = wl.chain_numpy(0.3, 40)
    assert np.allclose(result["scalar"], want, rtol=1e-12)
    assert np.allclose([np.asarray(a)[0] for a in result["array"]], want, rtol=1e-12)
    assert result["nodes"] > 40 and result["steps"] > 0
    x = sg.symbols("x")
    assert wl.node_count([x, x + 1]) == 3  # x, 1, x + 1: shared nodes once


# -- harness and drivers -----------------------------------------------------------------------


def test_harness_timing_and_report(fast_harness, tmp_path, capsys):
    assert h.per_call(lambda: None, 2) > 0
    calls = []

    def slow():
        calls.append(1)
        return len(calls)

    t, last, runs = h.fresh_timing(slow, repeat=5, budget=0.0)
    assert runs == 1 and last == 1 and t >= 0  # the budget stops after the first run
    assert h.fresh_timing(slow, repeat=3)[2] == 3
    sec = h.Section("T", ["a", "b"], intro=["above"])
    sec.add(1, "x")
    sec.notes.append("below")
    assert sec.markdown() == "### T\n\nabove\n\n| a | b |\n|---|---|\n| 1 | x |\n\n- below"
    assert h.check(True, "fine") == "ok" and h.exit_status() == 0
    assert h.check(False, "broken") == "**FAILED**" and h.FAILURES == ["broken"]
    text = h.report("title", ["fact"], [sec], tmp_path / "r.md")
    assert "VERIFICATION FAILURES:** broken" in text and (tmp_path / "r.md").read_text(encoding="utf-8") == text
    assert h.exit_status() == 1
    assert h.peak_rss_mib() is None or h.peak_rss_mib() > 0
    capsys.readouterr()


def test_run_driver_sections(fast_harness):
    run = _driver("run")
    sections = [
        run.bench_w2(200, 1),
        run.bench_rosenbrock([10], [3], 1, budget=0.0),
        run.bench_kth(2, 1),
        run.bench_latency(1),
    ]
    assert h.FAILURES == []
    for sec in sections:
        assert sec.rows and all(len(r) == len(sec.header) for r in sec.rows)


def test_scale_and_gpu_drivers(fast_harness, capsys):
    assert _driver("scale").main(["30"]) == 0
    assert "| 30 |" in capsys.readouterr().out
    gpu = _driver("gpu")  # importable without CuPy
    if wl.peer("cupy") is None:
        assert "CuPy not installed" in gpu.main([])


def test_no_absolute_machine_paths():
    pattern = re.compile(r"/work\b|/home/|/tmp/|/root\b|/Users/")
    hits = [
        f"{path.relative_to(BENCH)}:{i}: {line.strip()}"
        for path in sorted(BENCH.rglob("*"))
        if path.is_file() and path.suffix in {".py", ".md", ".txt", ".toml", ".cfg", ".sh"}
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "\n".join(hits)
