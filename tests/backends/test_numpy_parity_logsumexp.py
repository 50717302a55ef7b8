"""``sg.logsumexp`` at infinite elements gives scipy's values on every backend (and log_softmax follows).

The stable form shifts by the maximum m, and ``v - m`` is inf - inf = nan when m is infinite: an
element +inf (scipy: inf) or every element -inf (scipy: -inf, the log of a sum of zero probabilities).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.codegen import kernel

INF = np.inf
Z = np.array(
    [[INF, 1.0, 2.0], [-INF, -INF, -INF], [INF, -INF, 0.0], [-INF, 1.0, 2.0], [np.nan, INF, 0.0], [1.0, 2.0, 3.0]]
)
EXPECTED = np.array([INF, -INF, INF, np.logaddexp(1.0, 2.0), np.nan, np.log(np.exp([1.0, 2.0, 3.0]).sum())])
BACKENDS = ["numpy", "numpy-tape", "c", "c-tape"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_infinite_maximum_is_the_result(backend, monkeypatch, tmp_path):
    if backend.startswith("c") and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    if backend == "numpy-tape":
        monkeypatch.setattr(kernel, "TAPE_STATEMENTS", 0)
    if backend == "c-tape":
        monkeypatch.setenv("SYMGRAD_C_TAPE_STATEMENTS", "0")
    f = sg.compile(lambda z: sg.logsumexp(z), shapes={"z": (3,)}, backend=backend.split("-")[0])
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(f(Z), EXPECTED, rtol=1e-15)
        np.testing.assert_allclose(f(Z[0]), INF)


def test_gradient_away_from_infinities_is_softmax():
    g = sg.grad(lambda z: sg.logsumexp(z), shapes={"z": (3,)})
    z = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(g(z), np.exp(z) / np.exp(z).sum(), rtol=1e-15)
