"""Odd and even functions take a minus sign out of their operand, as sympy does: sin(-x) is -sin(x), cos(-x) cos(x).

The rewrite must not change a value: the op table's ``parity`` is checked on the ops' own
numpy references and on both backends, bit for bit, signed zeros, infinities and nan included.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.ir.ops import OPS

PARITY = sorted(name for name, op in OPS.items() if op.parity)
X = sg.symbols("x y z")
S = sp.symbols("x y z")

CASES = [
    lambda x, y, z, m: m.sin(-x),
    lambda x, y, z, m: m.cos(-2 * x),
    lambda x, y, z, m: m.sin(y - x),  # as many negative terms as positive: sympy's sort order decides
    lambda x, y, z, m: m.sin(x - y),
    lambda x, y, z, m: m.cos(y - x),
    lambda x, y, z, m: m.tanh(-x - y),
    lambda x, y, z, m: m.sinh(1 - x),
    lambda x, y, z, m: m.erf(-x / 2),
    lambda x, y, z, m: m.cos(-x).diff(x),
    lambda x, y, z, m: (m.sin(-x) ** 2).diff(x),
    lambda x, y, z, m: m.cosh(1 - x),
    lambda x, y, z, m: m.sin(-x + y - z),
    lambda x, y, z, m: m.tan(x - y - z),
    lambda x, y, z, m: m.sinh(-3 * x) * m.cos(-y),
]


def test_the_minus_sign_comes_out_where_sympy_takes_it_out():
    for case in CASES:
        assert str(case(*X, sg)) == str(case(*S, sp))


def test_the_table_parities_hold_bit_for_bit_on_the_references():
    tiny = np.nextafter(0.0, 1.0)
    x = np.array([0.0, tiny, 1e-300, 0.3, 0.99, 1.0, 2.5, 40.0, 1e10, 1e300, np.inf, np.nan])
    for name in PARITY:
        op = OPS[name]
        with np.errstate(all="ignore"):
            left, right = op.ref(-x), op.ref(x)
        expected = right if op.parity == "even" else -right
        np.testing.assert_array_equal(left, expected, err_msg=name)
        _same_zero_signs(left, expected, name)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_rewritten_functions_compute_numpys_values(backend, monkeypatch, tmp_path):
    if backend == "c" and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    x = X[0]
    v = np.array([-0.0, 0.0, 1e-310, -0.7, 0.7, -3.0, 25.0, 1e300, -np.inf, np.inf, np.nan])
    for name in PARITY:
        e = sg.compile(getattr(sg, OPS[name].public)(-2 * x), inputs=[x], backend=backend)
        with np.errstate(all="ignore"):
            want = OPS[name].ref(-2 * v)
            got = e(v)
        np.testing.assert_allclose(got, want, rtol=4e-16, atol=1e-323, err_msg=name)  # libm erf: 1 subnormal ulp
        _same_zero_signs(got, want, name)


def _same_zero_signs(a: np.ndarray, b: np.ndarray, name: str) -> None:
    """Signed zeros agree (a nan's sign bit means nothing)."""
    zero = b == 0
    np.testing.assert_array_equal(np.signbit(a[zero]), np.signbit(b[zero]), err_msg=name)
