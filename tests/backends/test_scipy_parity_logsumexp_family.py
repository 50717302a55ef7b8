"""``sg.logsumexp`` and ``sg.log_softmax`` compute as scipy's do, on every path (numpy and C, printed and taped).

- log_softmax is ``(z_i - m) - log(sum(exp(z_j - m)))``: the kernels computed ``z_i - logsumexp(z)``,
  rounding ``log(sum) + m`` first (at logits near 60 the largest class was 4,000 ulp off in float64;
  at ``[1e300, 1e300]`` it was 0, not -log 2).
- logsumexp at an infinite maximum m is m: ``v - m`` is inf - inf = nan there, an element +inf
  (scipy: inf) or every element -inf (scipy: -inf, the log of a sum of zero probabilities).
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from oracle import compiled_on

import symgrad as sg

PATHS = ["numpy", "numpy-tape", "c", "c-tape"]
INF = np.inf
Z = sg.symbols("z", shape=(3,))


def _compiled(outs, path, monkeypatch, tmp_path):
    if path.startswith("c") and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    return compiled_on(outs, [Z], path, "float64", monkeypatch)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """scipy.special.log_softmax's computation."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("path", PATHS)
def test_log_softmax_subtracts_the_shift_first(path, monkeypatch, tmp_path):
    f = _compiled(list(sg.log_softmax(Z)), path, monkeypatch, tmp_path)
    z = np.array([[60.0, 55.0, 52.5], [1e300, 1e300, -1.0], [-3.0, 0.25, 2.0]])
    expected = _log_softmax(z)
    assert expected[1, 0] == -math.log(2)
    got = np.stack(f(z), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=2e-15, atol=0)  # the sum of exps in another order: a few ulp


@pytest.mark.parametrize("path", PATHS)
def test_logsumexp_at_an_infinite_maximum_is_that_maximum(path, monkeypatch, tmp_path):
    f = _compiled(sg.logsumexp(Z), path, monkeypatch, tmp_path)
    z = np.array([[INF, 1.0, 2.0], [-INF, -INF, -INF], [INF, -INF, 0.0], [-INF, 1.0, 2.0], [np.nan, INF, 0.0]])
    expected = [INF, -INF, INF, np.logaddexp(1.0, 2.0), np.nan]
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(f(z), expected, rtol=1e-15)


def test_the_gradient_away_from_infinities_is_softmax():
    g = sg.grad(lambda z: sg.logsumexp(z), shapes={"z": (3,)})
    z = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(g(z), np.exp(z) / np.exp(z).sum(), rtol=1e-15)
