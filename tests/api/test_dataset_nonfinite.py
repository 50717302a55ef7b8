"""A loss over a dataset with an inf sample (or a sum that overflows) is inf, as numpy's sum and math.fsum say, not nan."""

import math
import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.api.reduction import Partial
from symgrad.backends.cuda_reduce import combine

BACKENDS = ["numpy"] + (["c"] if shutil.which("cc") or shutil.which("gcc") else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_an_infinite_sample_gives_an_infinite_loss(backend, reduce):
    L = sg.compile(lambda w, x: -sg.log(w * x), data="x", reduce=reduce, backend=backend)
    with np.errstate(divide="ignore"):
        assert L(1.0, np.array([1.0, 0.0, 2.0])) == math.inf
    E = sg.compile(lambda w, x: sg.exp(w * x), data="x", reduce=reduce, backend=backend)
    with np.errstate(over="ignore"):
        assert E(1000.0, np.array([1.0, 0.0, 2.0])) == math.inf


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sum_that_overflows_is_inf_and_inf_minus_inf_is_nan(backend):
    L = sg.compile(lambda w, x: w * x, data="x", reduce="sum", backend=backend).chunked(1)
    with np.errstate(over="ignore"):  # numpy's own sum warns here too
        assert L(1.0, np.array([1.7e308, 1.7e308])) == math.inf
        assert L(1.0, np.array([-1.7e308, -1.7e308])) == -math.inf
    with np.errstate(invalid="ignore"):
        assert math.isnan(L(1.0, np.array([np.inf, -np.inf])))
    assert math.isnan(L(1.0, np.array([1.0, np.nan])))


def test_partials_and_the_cuda_block_combination_keep_ieee_results():
    p = Partial(3)
    p.add(np.array([np.inf, 1.0, 1e308]), 1)
    with np.errstate(over="ignore", invalid="ignore"):
        p.add(np.array([1.0, -np.inf, 1e308]), 1)
    total = p.total()
    assert total[0] == math.inf and total[1] == -math.inf and total[2] == math.inf
    blocks = np.array([[np.inf, 1.7e308, 1.0], [-np.inf, 1.7e308, np.inf]])
    got = combine(blocks)
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == math.inf
