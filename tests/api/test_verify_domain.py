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


def test_float32_verify_accepts_float32_rounding_of_an_ill_conditioned_output():
    """sin(y**2) at large y: float32's rounding of y**2 moves it by 0.3%, which is float32, not a symgrad bug."""
    x, y = sg.symbols("x y")
    outs = []
    for e in (sg.where(x < 0.5, x, x**2), (sg.sin(x) + 2) ** sg.cos(y**2)):  # found by the tape's property test
        outs += [e, *sg.gradient(e, [x, y])]
    f = sg.compile(outs, inputs=[x, y], dtype="float32", verify=True)  # was a VerificationError ("a symgrad bug")
    got = np.asarray(f(np.float32(0.3), np.float32(40.0)), dtype=float)
    want = np.asarray(sg.compile(outs, inputs=[x, y])(0.3, 40.0))
    assert np.all(np.abs(got - want) <= 0.05 * np.abs(want) + 1e-3)  # float32's answer, not garbage


def test_float32_verify_still_catches_a_wrong_kernel(monkeypatch):
    from symgrad.api import compiled

    real = compiled.evaluate

    def shifted(nodes, values, dtype=float):  # both references (float64 and float32) disagree with the kernel
        return [np.asarray(v) + 0.5 for v in real(nodes, values, dtype)]

    monkeypatch.setattr(compiled, "evaluate", shifted)
    with pytest.raises(sg.VerificationError, match="reference interpreter"):
        sg.compile(lambda x: sg.sin(x) * x, dtype="float32", verify=True)
