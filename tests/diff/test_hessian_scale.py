"""Hessians of many variables: exact, the same nodes dense and sparse, and built in work linear in n.

The Rosenbrock Hessian of n variables is tridiagonal: ~3n of its n^2 entries
are non-zero.  Each second-order sweep (one per gradient entry) must cost what
the nodes it visits cost, not ``len(wrt)``, and filling the dense ``(n, n)``
output must follow the computed entries: a per-sweep list over the variables,
or a Python loop over the n^2 output entries, makes the build quadratic.  Work
is counted (Python lines run in the differentiation and output-plan modules),
never timed.
"""

from __future__ import annotations

import itertools

import numpy as np
from oracle import lines_run

import symgrad as sg
from symgrad.diff import reverse
from symgrad.diff.reverse import ZERO, derivative_tensor, expand_symmetric, gradient_nodes, vjp_nodes


def rosenbrock(x):
    """The extended Rosenbrock function, a Python sum over scalar entries."""
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    """Its known tridiagonal Hessian, by hand."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
    return h


def reference_tensor(root, wrt, order: int) -> dict:
    """The definition: entry ``(..., i, j)`` is ``d entry(..., i) / d wrt[j]`` for ``j >= i``, one full sweep each."""
    level = {(): root}
    for _ in range(order):
        nxt = {}
        for idx, node in level.items():
            start = idx[-1] if idx else 0
            if node.op == "const":
                continue
            for j, g in enumerate(gradient_nodes(node, list(wrt[start:])), start):
                if g is not ZERO:
                    nxt[idx + (j,)] = g
        level = nxt
    return level


def assert_same_entries(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    assert all(got[k] is want[k] for k in want)


N = 200
X0 = np.random.default_rng(3).uniform(-1.5, 1.5, N)


def test_dense_hessian_is_the_tridiagonal_formula():
    h = sg.hessian(rosenbrock, shapes={"x": (N,)})
    assert h.outputs.shape == (N, N)
    np.testing.assert_allclose(h(X0), rosenbrock_hessian(X0), rtol=1e-12, atol=1e-9)


def test_sparse_hessian_is_the_tridiagonal_formula_and_pattern():
    s = sg.hessian(rosenbrock, shapes={"x": (N,)}, sparse=True)
    value = s(X0)
    np.testing.assert_allclose(value.todense(), rosenbrock_hessian(X0), rtol=1e-12, atol=1e-9)
    pattern = {(i, i) for i in range(N)} | {(i, i + 1) for i in range(N - 1)}
    assert set(zip(value.rows.tolist(), value.cols.tolist())) == pattern
    assert np.all(value.rows <= value.cols)


def test_dense_and_sparse_hold_the_same_nodes():
    dense = sg.hessian(rosenbrock, shapes={"x": (N,)}).outputs
    s = sg.hessian(rosenbrock, shapes={"x": (N,)}, sparse=True)
    values = s.outputs
    for k, (i, j) in enumerate(zip(s.rows.tolist(), s.cols.tolist())):
        assert dense[i, j] is values[k] and dense[j, i] is values[k]
    structural = np.zeros((N, N), dtype=bool)
    structural[s.rows, s.cols] = structural[s.cols, s.rows] = True
    assert all(v is ZERO for v in dense[~structural].tolist())


def test_entries_are_those_of_one_sweep_per_entry_over_the_later_variables():
    x = sg.symbols("x", shape=(12,))
    xs = list(x.reshape(-1))
    f = rosenbrock(x) + sg.exp(xs[0] * xs[5]) * sg.sin(xs[3]) + sg.where(xs[1] > 0, xs[2] ** 3, sg.log(1 + xs[4] ** 2))
    for wrt in (xs, xs[::-1], xs[3:9] + xs[:4] + xs[5:7]):  # reordered, partial, with repeated variables
        for order in (1, 2, 3):
            assert_same_entries(derivative_tensor(f, wrt, order), reference_tensor(f, wrt, order))


def test_a_variable_alone_and_variables_not_reached():
    x, y, z = sg.symbols("x y z")
    f = x * y + y**3
    assert_same_entries(derivative_tensor(f, [x, y, z], 2), reference_tensor(f, [x, y, z], 2))
    assert derivative_tensor(f, [z], 2) == {}
    assert derivative_tensor(f, [], 2) == {}
    (only,) = derivative_tensor(x, [x, y], 1).items()
    assert only[0] == (0,) and only[1] is reverse.ONE


def test_vjp_sums_seeds_of_one_root_and_skips_constant_roots():
    a, b, c = sg.symbols("a b c")
    f = sg.sin(a) * b
    got = vjp_nodes([(f, c), (f, 2), (sg.cos(b), 1), (sg.exp(c), 1)], [a, b])
    fn = sg.compile(got, inputs=[a, b, c])
    da, db = fn(0.3, -0.7, 1.9)
    np.testing.assert_allclose(da, (1.9 + 2) * np.cos(0.3) * -0.7, rtol=1e-12)
    np.testing.assert_allclose(db, (1.9 + 2) * np.sin(0.3) - np.sin(-0.7), rtol=1e-12)


def test_expand_symmetric_writes_every_permutation():
    x = sg.symbols("x", shape=(4,))
    xs = list(x.reshape(-1))
    f = xs[0] * xs[1] ** 2 * xs[2] ** 3 + sg.sin(xs[3]) * xs[0] ** 4
    for order in (1, 2, 3, 4):
        entries = derivative_tensor(f, xs, order)
        full = expand_symmetric(entries, 4, order)
        want = np.full((4,) * order, ZERO, dtype=object)
        for idx, node in entries.items():
            for perm in itertools.permutations(idx):
                want[perm] = node
        assert full.shape == want.shape and all(p is q for p, q in zip(full.reshape(-1), want.reshape(-1)))


# -- work counted, not timed ---------------------------------------------------------------

COUNTED = ("symgrad/diff/reverse.py", "symgrad/api/transforms.py", "symgrad/api/plan.py")


def test_hessian_entries_cost_linear_work():
    def entries(n: int):
        x = sg.symbols("x", shape=(n,))
        f = rosenbrock(x)
        return lambda: derivative_tensor(f, list(x.reshape(-1)), 2)

    small, big = lines_run(entries(150), COUNTED), lines_run(entries(300), COUNTED)
    assert big < 2.2 * small, (small, big)  # exactly 2x; a pass over all the variables per sweep gave 2.6x


def test_dense_hessian_build_costs_linear_work_in_the_differentiation_and_plan():
    def build(n: int):
        return lambda: sg.hessian(rosenbrock, shapes={"x": (n,)}, verify=False)

    small, big = lines_run(build(150), COUNTED), lines_run(build(300), COUNTED)
    assert big < 2.2 * small, (small, big)  # exactly 2x; Python passes over the n^2 entries gave 2.9x


def test_sweeps_visit_only_nodes_reaching_their_variables(monkeypatch):
    """Each second-order sweep walks a few nodes of its gradient entry: the total grows linearly in n."""
    visited = [0]
    real = reverse._accumulate

    def counting(order, marked, seeds, memo=None):
        visited[0] += len(order)
        return real(order, marked, seeds, memo)

    monkeypatch.setattr(reverse, "_accumulate", counting)
    totals = []
    for n in (100, 200, 400):
        visited[0] = 0
        x = sg.symbols("x", shape=(n,))
        derivative_tensor(rosenbrock(x), list(x.reshape(-1)), 2)
        totals.append(visited[0])
    assert totals[1] < 2.1 * totals[0] and totals[2] < 2.1 * totals[1], totals
