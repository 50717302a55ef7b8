"""Every op of the table, end to end: values, first and second derivatives on every backend and argument kind.

The way autograd's ``test_systematic.py`` and JAX's op-grad tables work, but
walking :data:`symgrad.ir.ops.OPS`, so an op added to the table is tested here
without a line of this file changing.  Each op's operands are arguments of one
traced function (sampled inside the op's domain, away from kinks, from the
entry's ``domain``/``samples`` hints), and

- ``sg.compile`` of all the ops' values,
- ``sg.grad`` and ``sg.hessian`` of their sum (each op's partials land in its own
  entries; entries across ops must be exactly zero)

are compared with central finite differences of the op's numpy reference and
with sympy's derivatives of the op's sympy form, evaluated to 30 digits.  Every
compiled function runs on plain floats (the scalar path), on batches of points,
and on declared array arguments (``shapes=``), with the numpy and C backends.
"""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest
import sympy as sp
from oracle import op_operands, op_points

import symgrad as sg
from symgrad.ir import builders as B
from symgrad.ir.node import symbol
from symgrad.ir.ops import OPS, Op
from symgrad.tracing.functions import primitive

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # self-checks off-domain
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not HAS_CC, reason="no C compiler"))]
N = 3  # points per op


WALKED = list(OPS)
SLOTS = [(name, i) for name in WALKED for i in range(op_operands(OPS[name]))]  # one argument per operand
INDEX = {slot: k for k, slot in enumerate(SLOTS)}
POINTS = {name: op_points(OPS[name], N, salt=7) for name in WALKED}
COLUMNS = [POINTS[name][i] for name, i in SLOTS]


def _args_of(name: str, xs) -> list:
    return [xs[INDEX[name, i]] for i in range(op_operands(OPS[name]))]


def values_fn(*xs):
    return tuple(primitive(name)(*_args_of(name, xs)) for name in WALKED)


def total_fn(*xs):
    return sg.sum(np.asarray([sg.sum(primitive(name)(*_args_of(name, xs))) for name in WALKED], dtype=object))


def _zero_partials(name: str) -> set[int]:
    """Operands whose partial the table declares identically zero (no finite difference or sympy check)."""
    op = OPS[name]
    syms = tuple(symbol(f"z{i}") for i in range(op_operands(op)))
    node = primitive(name)(*syms)
    return {i for i, p in enumerate(op.partials(B, syms, node)) if p.op == "const" and p.value == 0}


# -- the references: central differences of the numpy reference, and sympy -------------------


def _ref(op: Op, pts: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(op.ref(*pts), dtype=float), pts.shape[1:]).copy()


def _shifted(pts, steps: dict[int, np.ndarray]):
    out = pts.copy()
    for i, h in steps.items():
        out[i] = out[i] + h
    return out


def finite_differences(name: str) -> tuple[list, list]:
    op, pts = OPS[name], POINTS[name]
    m = op_operands(op)
    first, second = [], [[None] * m for _ in range(m)]
    for i in range(m):
        h = 1e-6 * (1 + np.abs(pts[i]))
        first.append((_ref(op, _shifted(pts, {i: h})) - _ref(op, _shifted(pts, {i: -h}))) / (2 * h))
    for i in range(m):
        hi = 1e-4 * (1 + np.abs(pts[i]))
        for j in range(m):
            if i == j:
                f0 = _ref(op, pts)
                d2 = (_ref(op, _shifted(pts, {i: hi})) - 2 * f0 + _ref(op, _shifted(pts, {i: -hi}))) / hi**2
            else:
                hj = 1e-4 * (1 + np.abs(pts[j]))
                corners = [_ref(op, _shifted(pts, {i: si * hi, j: sj * hj})) for si in (1, -1) for sj in (1, -1)]
                d2 = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * hi * hj)
            second[i][j] = d2
    return first, second


def sympy_derivatives(name: str) -> tuple[np.ndarray, list, list]:
    op, pts = OPS[name], POINTS[name]
    m = op_operands(op)
    syms = [sp.Symbol(f"u{i}", real=True) for i in range(m)]
    expr = op.sympy(sp, *syms)

    def at(e) -> np.ndarray:
        return np.array([float(e.subs(dict(zip(syms, pts[:, k]))).evalf(30)) for k in range(N)])

    first = [at(sp.diff(expr, s)) for s in syms]
    second = [[at(sp.diff(expr, a, b)) for b in syms] for a in syms]
    return at(expr), first, second


@functools.cache
def references() -> dict:
    out = {}
    for name in WALKED:
        value, d1, d2 = sympy_derivatives(name)
        fd1, fd2 = finite_differences(name)
        out[name] = {"ref": _ref(OPS[name], POINTS[name]), "sympy": (value, d1, d2), "fd": (fd1, fd2)}
    return out


# -- symgrad's answers: three compiled functions per backend and argument kind ------------------


@functools.cache
def compiled(backend: str, kind: str):
    shapes = [(N,)] * len(SLOTS) if kind == "array" else [None] * len(SLOTS)
    argnums = tuple(range(len(SLOTS)))
    with np.errstate(all="ignore"):  # compiling verifies at random points, some outside an op's domain
        return (
            sg.compile(values_fn, shapes=shapes, backend=backend),
            sg.grad(total_fn, argnums=argnums, shapes=shapes, backend=backend),
            sg.hessian(total_fn, argnums=argnums, shapes=shapes, backend=backend),
        )


def _at_each_point(fn, kind: str):
    """Run ``fn`` and give every result as an array over the N points, whatever the argument kind."""
    with np.errstate(all="ignore"):
        if kind == "scalar":
            runs = [fn(*(float(c[k]) for c in COLUMNS)) for k in range(N)]
            return _stack(runs)
        return fn(*COLUMNS)  # a batch of points, or declared arrays of N elements


def _stack(runs):
    if isinstance(runs[0], tuple):
        return tuple(_stack([r[i] for r in runs]) for i in range(len(runs[0])))
    return np.array(runs, dtype=float)


@functools.cache
def results(backend: str, kind: str) -> dict:
    values_c, grad_c, hess_c = compiled(backend, kind)
    values = _at_each_point(values_c, kind)
    grads = _at_each_point(grad_c, kind)
    hess = _at_each_point(hess_c, kind)
    if kind == "array":  # each block of two array arguments: the elementwise entries on its diagonal
        hess = tuple(tuple(np.asarray(h) for h in row) for row in hess)
    return {"values": values, "grads": grads, "hess": hess}


def _hessian_entry(block, kind: str) -> np.ndarray:
    block = np.asarray(block, dtype=float)
    return np.diagonal(block).copy() if kind == "array" else np.broadcast_to(block, (N,))


def _offdiagonal(block, kind: str) -> np.ndarray:
    """Per row, the entries of an array block off its diagonal (zero for elementwise ops)."""
    if kind != "array":
        return np.zeros(N)
    block = np.asarray(block, dtype=float)
    return np.abs(block - np.diag(np.diagonal(block))).sum(axis=1)


def problems(name: str, backend: str) -> list[str]:
    """Every disagreement of op ``name`` on ``backend``, over the three argument kinds."""
    found = []
    ref = references()[name]
    value, s1, s2 = ref["sympy"]
    f1, f2 = ref["fd"]
    zero = _zero_partials(name)
    m = op_operands(OPS[name])

    def check(what, got, want, rtol, atol):
        got = np.broadcast_to(np.asarray(got, dtype=float), (N,))
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            found.append(f"{name} [{backend}, {kind}] {what}: {got} != {want}")

    for kind in ("scalar", "batch", "array"):
        res = results(backend, kind)
        got_value = res["values"][WALKED.index(name)]
        check("value vs numpy reference", got_value, ref["ref"], 1e-12, 1e-13)
        check("value vs sympy", got_value, value, 1e-12, 1e-13)
        for i in range(m):
            d1 = res["grads"][INDEX[name, i]]
            if i in zero:
                check(f"d/du{i} (declared zero)", d1, np.zeros(N), 0, 0)
                continue
            check(f"d/du{i} vs central differences", d1, f1[i], 1e-6, 1e-7)
            check(f"d/du{i} vs sympy", d1, s1[i], 1e-10, 1e-11)
        for i in range(m):
            for j in range(m):
                block = res["hess"][INDEX[name, i]][INDEX[name, j]]
                d2 = _hessian_entry(block, kind)
                check(f"d2/du{i}du{j} off the block diagonal", _offdiagonal(block, kind), np.zeros(N), 0, 0)
                if i in zero or j in zero:
                    check(f"d2/du{i}du{j} (declared zero)", d2, np.zeros(N), 0, 0)
                    continue
                check(f"d2/du{i}du{j} vs central differences", d2, f2[i][j], 1e-5, 1e-6)
                check(f"d2/du{i}du{j} vs sympy", d2, s2[i][j], 1e-9, 1e-10)
        # entries across ops: the sum's Hessian has no coupling between different ops' arguments
        row = res["hess"][INDEX[name, 0]]
        others = [k for k, (other, _) in enumerate(SLOTS) if other != name]
        if any(np.any(np.asarray(row[k], dtype=float) != 0) for k in others):
            found.append(f"{name} [{backend}, {kind}] couples with another op's arguments in the Hessian")
    return found


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", WALKED)
def test_op_values_and_two_derivatives_match_finite_differences_and_sympy(name, backend):
    assert problems(name, backend) == []


def test_the_systematic_walk_covers_every_op_of_the_table():
    assert set(WALKED) == set(OPS)
    assert {name for name, _ in SLOTS} == set(OPS)
