"""``sg.logaddexp`` and ``sg.logaddexp2`` are numpy's, bit for bit, on every path (numpy and C, printed and taped).

They are ops of the table with numpy's algorithm (a tie is the value plus log 2, else the larger
operand plus log1p of exp of minus the difference).  As a select of two softplus branches, a tie of
infinities was nan (``inf - inf`` inside; numpy: inf, and -inf for two -inf), logaddexp2 rounded its
operands times log 2 (``logaddexp2(-710, 0)`` 4e-14 off), and the formula printed the select.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from oracle import compiled_on

import symgrad as sg

PATHS = ["numpy", "numpy-tape", "c", "c-tape"]
A, B = sg.symbols("a b")
INF, NAN = np.inf, np.nan
EDGES = [
    (INF, INF), (-INF, -INF), (INF, -INF), (-INF, INF), (INF, 3.0), (-INF, 3.0), (NAN, 1.0), (1.0, NAN),
    (1e300, 1e300), (-1e300, 1e300), (-710.0, 0.0), (0.0, -745.0), (5.0, 5.0), (-0.0, 0.0), (-50.0, 0.0), (1e-320, 0.0),
]  # fmt: skip


def _points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    scale = 10.0 ** rng.uniform(-3, 3, 400)
    a = np.concatenate([[p for p, _ in EDGES], rng.normal(size=400) * scale])
    b = np.concatenate([[q for _, q in EDGES], a[len(EDGES) :] + rng.normal(size=400) * scale * 0.1])
    return a, b


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_values_are_numpys_bit_for_bit(name, path, monkeypatch, tmp_path):
    if path.startswith("c") and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    f = compiled_on([getattr(sg, name)(A, B)], [A, B], path, "float64", monkeypatch)
    a, b = _points()
    with np.errstate(invalid="ignore"):  # a nan operand: numpy warns, and so does the kernel
        want = getattr(np, name)(a, b)
        (got,) = f(a, b)  # the one output
        scalar = np.array([f(p, q)[0] for p, q in EDGES])  # the one-point path
    np.testing.assert_array_equal(got, want)  # equal as bits: nan where numpy's is
    np.testing.assert_array_equal(scalar, want[: len(EDGES)])


@pytest.mark.parametrize("name, rate", [("logaddexp", 1.0), ("logaddexp2", math.log(2))])
def test_derivatives_are_the_softmax_weights(name, rate):
    """d/da = exp(a)/(exp(a) + exp(b)) (2**a/(2**a + 2**b)): a sigmoid of the difference, exact in both tails."""
    fn = getattr(sg, name)
    grad = sg.grad(fn, argnums=(0, 1))
    for a, b in [(0.3, -1.2), (4.0, 4.0), (-800.0, 0.0), (1e6, -1e6), (30.0, -10.0)]:
        d = rate * (a - b)
        da, db = grad(a, b)
        want_a = 1 / (1 + math.exp(-d)) if d >= 0 else math.exp(d) / (1 + math.exp(d))
        want_b = 1 / (1 + math.exp(d)) if d <= 0 else math.exp(-d) / (1 + math.exp(-d))
        assert da == pytest.approx(want_a, rel=1e-14, abs=0) and db == pytest.approx(want_b, rel=1e-14, abs=0)
    hess = sg.hessian(fn, argnums=(0, 1))(0.7, -0.4)
    s = 1 / (1 + math.exp(-rate * 1.1))
    want = rate * s * (1 - s)
    np.testing.assert_allclose(np.array(hess, dtype=float), [[want, -want], [-want, want]], rtol=1e-13)


def test_formulas_print_the_function_and_its_sigmoid():
    assert str(sg.logaddexp(A, B)) == "logaddexp(a, b)"
    assert str(sg.diff(sg.logaddexp(A, B), A)) == "sigmoid(a - b)"
    assert sg.parse_formula("logaddexp(a, b)").value is sg.logaddexp(A, B)
    assert sg.parse_formula(str(sg.logaddexp2(A, 2 * B))).value is sg.logaddexp2(A, 2 * B)
