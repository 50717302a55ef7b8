"""verify=True of a function over a dataset checks custom functions' derivative rules on every backend: the fused
C reduction's own verify skipped that check, so a wrong ``defderiv`` passed there and failed on numpy."""

import shutil

import numpy as np
import pytest

import symgrad as sg

needs_cc = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")
BACKENDS = ["numpy", pytest.param("c", marks=needs_cc)]


def _loss(scale: float):
    @sg.custom_function(name="swell")
    def swell(x):
        return sg.sin(x)

    @swell.defderiv
    def _(x):
        return scale * sg.cos(x)

    return lambda w, x: swell(w * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_derivative_rule_is_refused_over_a_dataset(backend):
    with pytest.raises(sg.VerificationError, match="derivative rule of the custom function swell"):
        sg.grad(_loss(2.0), data="x", backend=backend, verify=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_right_derivative_rule_passes_and_gives_the_mean_gradient(backend):
    x = np.linspace(-2.0, 2.0, 101)
    g = sg.grad(_loss(1.0), data="x", backend=backend, verify=True)(0.7, x)
    assert np.isclose(g, np.mean(x * np.cos(0.7 * x)), rtol=1e-13)
