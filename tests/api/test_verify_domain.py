"""verify=True checks generated code at points inside the outputs' domain: silent when right, loud when wrong."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import symgrad as sg

BACKENDS = ["numpy"] + (["c"] if shutil.which("cc") or shutil.which("gcc") else [])


def domain_limited(x, y):
    return sg.log(x) + sg.sqrt(y - 1) * sg.arcsin(x / 10) + sg.arccos(y / 5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("transform", [sg.compile, sg.grad, sg.hessian])
def test_verify_is_silent_under_warnings_as_errors_and_errstate_raise(transform, backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            f = transform(domain_limited, verify=True, backend=backend)
    assert np.all(np.isfinite(np.asarray(f(2.0, 2.0), dtype=float)))


def test_verify_of_a_function_without_inputs():
    f = sg.compile(sg.parse_formula("-3").value, inputs=[], verify=True)
    assert f() == -3.0


def test_verify_of_an_empty_domain_compares_the_nans():
    f = sg.compile(lambda x: sg.sqrt(-1 - x**2), verify=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(np.array([0.5]))[0])


def test_verify_still_catches_a_wrong_kernel(monkeypatch):
    from symgrad.api import compiled

    real = compiled.evaluate
    monkeypatch.setattr(compiled, "evaluate", lambda nodes, values: [np.asarray(v) + 1e-3 for v in real(nodes, values)])
    with pytest.raises(sg.VerificationError, match="reference interpreter"):
        sg.grad(domain_limited, verify=True)
