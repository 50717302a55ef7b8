"""Signed zeros through sign, relu, maximum and minimum: the C kernels (compiled and taped) give numpy's zero.

``1/sg.relu(x)`` at x = -0.0 is +inf in numpy (``np.maximum(-0.0, 0.0)`` is +0.0) and was -inf in C, whose
helpers returned their first operand on a tie; ``sg.sign(-0.0)`` was -0.0 in C where ``np.sign`` gives +0.0.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgrad as sg

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")

A = np.array([-0.0, 0.0, -0.0, 0.0, np.nan, 1.0, -0.0], dtype=np.float64)
B = np.array([0.0, -0.0, -0.0, 0.0, -0.0, np.nan, 2.0], dtype=np.float64)
CASES = [
    ("sign", lambda a, b: sg.sign(a), lambda a, b: np.sign(a)),
    ("relu", lambda a, b: sg.relu(a), lambda a, b: np.maximum(a, 0.0)),
    ("maximum", lambda a, b: sg.maximum(a, b), np.maximum),
    ("minimum", lambda a, b: sg.minimum(a, b), np.minimum),
    ("1/relu", lambda a, b: 1 / sg.relu(a), lambda a, b: 1 / np.maximum(a, 0.0)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("taped", [False, True])
@pytest.mark.parametrize("name, build, reference", CASES, ids=[c[0] for c in CASES])
def test_signed_zeros_follow_numpy(name, build, reference, dtype, taped, monkeypatch, tmp_path):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    if taped:
        monkeypatch.setenv("SYMGRAD_C_TAPE_STATEMENTS", "0")
    a, b = sg.symbols("a b")
    f = sg.compile(build(a, b), inputs=[a, b], dtype=dtype, backend="c")
    x, y = A.astype(dtype), B.astype(dtype)
    with np.errstate(all="ignore"):
        expected = reference(x, y).astype(dtype)
        got = f(x, y)
    np.testing.assert_array_equal(got, expected)
    assert np.signbit(got).tolist() == np.signbit(expected).tolist(), (name, got, expected)
