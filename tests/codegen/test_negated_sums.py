"""A sum of negated terms only (``-x - y``) gives numpy's signed zero on every path.

The printers started such a sum from the literal 0 (``0.0 - x - y``), and ``0.0 - 0.0`` is
+0.0 where numpy's ``-x - y`` is -0.0: ``1/(-x - y)`` at x = y = 0 was +inf instead of -inf on
the numpy kernel, its tape, the float path (printed, taped, straight-line) and the C kernels
(compiled and taped).  It now starts from the negation as negation is printed, ``(-1.0)*x``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from oracle import compiled_on

import symgrad as sg
from symgrad.backends import tape as numpy_tape
from symgrad.ir import builders

HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
PATHS = ["numpy", "numpy-tape"] + [
    pytest.param(p, marks=pytest.mark.skipif(not HAS_CC, reason="no C")) for p in ("c", "c-tape")
]
X, Y = sg.symbols("x y")
ZS = sg.symbols("z0:40")  # past printer.MAX_OPERANDS: the sum is printed as partial sums
A = np.array([0.0, -0.0, 0.0, -0.0, 1.5])
B = np.array([0.0, 0.0, -0.0, -0.0, -1.5])
CASES = {
    "-x - y": (lambda: -X - Y, lambda a, b: -a - b),
    "1/(-x - y)": (lambda: 1 / (-X - Y), lambda a, b: 1 / (-a - b)),
    "-x - y - sin(x)": (lambda: -X - Y - sg.sin(X), lambda a, b: -a - b - np.sin(a)),
    "-(x*y) - y": (lambda: -(X * Y) - Y, lambda a, b: -(a * b) - b),
}


def _same(got, want) -> bool:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return bool(np.array_equal(got, want, equal_nan=True) and (np.signbit(got) == np.signbit(want)).all())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(CASES))
def test_negated_sums_keep_numpys_signed_zero(case, path, dtype, monkeypatch):
    build, reference = CASES[case]
    f = compiled_on(build(), [X, Y], path, dtype, monkeypatch)
    a, b = A.astype(dtype), B.astype(dtype)
    with np.errstate(all="ignore"):
        want = reference(a, b)
        assert _same(f(a, b), want)
        for _ in range(2 + numpy_tape.TIER_CALLS):  # the float path: first calls, then (taped) straight-line
            assert _same([f(float(u), float(v)) for u, v in zip(a, b)], want)


@pytest.mark.parametrize("path", PATHS)
def test_a_long_negated_sum_keeps_numpys_signed_zero(path, monkeypatch):
    e = builders.add(*(-z for z in ZS))  # one sum of 40 negations (a loop of + nests sums of 8)
    assert e.op == "add" and len(e.args) == len(ZS)
    f = compiled_on(e, list(ZS), path, "float64", monkeypatch)
    zeros = np.zeros((len(ZS), 3))
    zeros[0] = [0.0, -0.0, 1.0]
    want = sum((-z for z in zeros[1:]), -zeros[0])  # numpy's -z0 - z1 - ...: -0.0 where every term is +0.0
    assert _same(f(*zeros), want)
    assert _same([f(*(float(v) for v in zeros[:, k])) for k in range(3)], want)
