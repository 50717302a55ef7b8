"""Large graphs: traced, differentiated, generated, compiled and run, with no recursion limits.

The default run takes a chain whose graph (value and derivative) has over 10^5
nodes through every stage, compiles both call paths (the generated code is cut
into parts) and checks them against a plain-Python recurrence.  The 10^5-step
chain runs with SYMGRAD_SLOW=1 (and ``-m slow``).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import symgrad as sg
from symgrad.codegen import kernel as codegen
from symgrad.ir import toposort

H = 1e-5


def _chain(steps: int):
    x = sg.symbols("x")
    y = x
    for _ in range(steps):
        y = sg.sin(y) * H + y
    return x, y


def _oracle(x0: float, steps: int) -> tuple[float, float]:
    y, dy = x0, 1.0
    for _ in range(steps):
        y, dy = math.sin(y) * H + y, dy * (math.cos(y) * H + 1.0)
    return y, dy


def _check_chain(steps: int, min_nodes: int) -> None:
    x, y = _chain(steps)
    d = sg.diff(y, x)
    nodes = len(toposort([y, d]))  # (no node in an assert: pytest would print a 10^5-node formula as a tree)
    assert nodes >= min_nodes, nodes
    f = sg.compile([y, d], inputs=[x])
    assert f.source.count("_part") > 2  # both paths were cut into parts
    want = _oracle(0.3, steps)
    assert list(f(0.3)) == pytest.approx(want, rel=1e-11)
    got = f(np.array([0.3, 0.3]))
    np.testing.assert_allclose(np.array(got)[:, 0], want, rtol=1e-11)


def test_chain_with_a_hundred_thousand_node_graph():
    _check_chain(17_000, 100_000)  # 6 nodes a step


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SYMGRAD_SLOW"), reason="set SYMGRAD_SLOW=1: minutes of CPU")
def test_chain_of_a_hundred_thousand_steps():
    _check_chain(100_000, 590_000)


def test_parts_are_bounded_and_agree_with_one_function(monkeypatch):
    x, y = sg.symbols("x y")
    e = sg.sum(np.array([sg.sin(x * k + y) * sg.exp(-y * k / 10) for k in range(1, 40)]))
    outs = [e, *sg.gradient(e, [x, y])]
    monkeypatch.setattr(codegen, "TAPE_STATEMENTS", 10**9)  # the printed kernel (the tape takes this size by default)
    whole = sg.compile(outs, inputs=[x, y])
    monkeypatch.setattr(codegen, "PART_STATEMENTS", 17)
    cut = sg.compile(outs, inputs=[x, y])
    parts = cut.kernel.numpy_parts  # the driver, then the parts, each compiled on its own
    assert len(parts) > 2 and all(len([ln for ln in p.splitlines() if ln.startswith("    ")]) <= 17 for p in parts[1:])
    xs, ys = np.linspace(-1, 1, 20_000), np.linspace(0, 2, 20_000)
    for a, b in zip(cut(xs, ys), whole(xs, ys)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    assert cut(0.3, 0.7) == pytest.approx(whole(0.3, 0.7), rel=1e-13)


def test_sum_of_ten_thousand_terms_and_its_gradient():
    n = 10_000
    x, y = sg.symbols("x y")
    k = np.arange(1, n + 1, dtype=float)
    e = sg.sum(np.array([sg.sin(x * float(c) + y) for c in k]))
    f = sg.compile([e, *sg.gradient(e, [x, y])], inputs=[x, y])
    want = [np.sin(0.1 * k + 0.2).sum(), (k * np.cos(0.1 * k + 0.2)).sum(), np.cos(0.1 * k + 0.2).sum()]
    assert list(f(0.1, 0.2)) == pytest.approx(want, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose([v[0] for v in f(np.array([0.1]), np.array([0.2]))], want, rtol=1e-9, atol=1e-9)


def test_dense_hessian_of_fifty_variables():
    n = 50
    rng = np.random.default_rng(0)
    A = rng.normal(size=(n, n))
    A = (A + A.T) / 2

    def f(v):  # all pairwise interactions: v^T A v / 2 + sum cos(v_i v_j) over i < j
        pairs = [sg.cos(v[i] * v[j]) for i in range(n) for j in range(i + 1, n)]
        return v @ A @ v / 2 + sg.sum(np.array(pairs))

    h = sg.hessian(f, shapes={"v": (n,)})
    v = rng.uniform(-0.5, 0.5, n)
    got = h(v)
    p = np.outer(v, v)
    c, s = np.cos(p), np.sin(p)
    # d2/dvi dvj cos(vi vj) = -sin(p) - vi vj cos(p) (i != j); d2/dvi2 sum_j cos(vi vj) = -sum_j vj^2 cos(p_ij)
    want = A - s - p * c
    np.fill_diagonal(want, np.diag(A) - ((v**2)[None, :] * c).sum(axis=1) + v**2 * np.diag(c))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, got.T, rtol=0, atol=0)


_MEMORY_SCRIPT = r"""
import resource, sys
import symgrad as sg
from symgrad.ir.node import intern_table_size

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

steps = int(sys.argv[1])
x = sg.symbols("x")
base, nodes0 = rss(), intern_table_size()
y = x
for k in range(steps):
    y = 0.5 * sg.sin(y) + 0.9 * y
    if k % 7 == 0:
        y = y + x
g = sg.diff(y, x)
nodes = intern_table_size() - nodes0
f = sg.compile([y, g], inputs=[x])
f(0.3)
f([0.3] * 1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(nodes, peak - base)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc")
def test_memory_per_node_through_build_and_compile_is_under_a_kilobyte():
    """Issue 15: ~17 KB per node before; peak RSS over the imports, divided by the graph's nodes."""
    import subprocess
    import sys

    for verify, limit in (("0", 1024), ("1", 1200)):  # the default; verify=True evaluates the graph as well
        env = {**os.environ, "SYMGRAD_VERIFY": verify}
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, "30000"],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            env=env,
        ).stdout.split()
        nodes, extra = int(out[0]), int(out[1])
        assert nodes > 300_000
        assert extra / nodes < limit, (
            f"verify={verify}: {extra / nodes:.0f} bytes per node ({nodes} nodes, {extra >> 20} MiB)"
        )
