"""verify() of the fused C reduction compares sums at points inside the loss's domain: at uniform points a log or an
arcsin sample is nan, every sum is then nan, and nan agrees with nan, so a wrong reduction passed the check."""

import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import c_reduce

pytestmark = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")

LOSSES = {
    "log": lambda w, x: sg.log(w * x),
    "arcsin": lambda w, x: w * sg.arcsin(x),
    "sqrt": lambda w, x: w * sg.sqrt(x),
    "polynomial": lambda w, x: w * x**2,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_verify_refuses_a_wrong_fused_reduction_of_a_loss_with_a_domain(name, monkeypatch):
    L = sg.compile(LOSSES[name], data="x", backend="c")
    assert L._fused
    L.verify()  # the real kernel passes
    bind = c_reduce.CReduceKernel.bind

    def wrong(self, columns):
        sums = bind(self, columns)
        return lambda lo, hi: 1.5 * sums(lo, hi)

    monkeypatch.setattr(c_reduce.CReduceKernel, "bind", wrong)
    with pytest.raises(sg.VerificationError, match="the fused C reduction computed"):
        L.verify()


def test_verified_log_loss_still_computes_the_mean():
    x = np.linspace(0.5, 3.0, 41)
    value = sg.compile(LOSSES["log"], data="x", backend="c", verify=True)(1.5, x)
    assert np.isclose(value, np.mean(np.log(1.5 * x)), rtol=1e-14)
