"""verify=True of a float32 dataset function on the C backend (the fused reduction) allows float32's own rounding and
overflow, as the per-sample kernels' verify does: exp(300*w*x) overflows in float32 where float64 does not."""

import shutil

import pytest

import symgrad as sg

needs_cc = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")


@needs_cc
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_float32_dataset_verify_accepts_float32_overflow(backend):
    def loss(w, x):
        return sg.exp(300 * w * x) - sg.exp(300 * w * x - 1e-9)

    sg.compile(loss, data="x", backend=backend, dtype="float32", verify=True)
    sg.grad(loss, data="x", backend=backend, dtype="float32", verify=True)
