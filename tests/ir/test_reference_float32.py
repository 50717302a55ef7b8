"""The reference interpreter in float32 rounds every op to float32, as float32 kernels do.

``evaluate(..., dtype=np.float32)`` is what ``verify=True`` accepts a float32 kernel by; the
op table's references for the comparisons, ``stop_gradient``, ``erf`` and ``erfc`` returned
float64 for float32 operands, so what followed them was computed in float64: a right float32
kernel of ``1e40*stop_gradient(x)`` (inf in float32, as numpy's float32 gives) or of
``1e40*(x > 0) + x`` (nan where x <= 0: 0*inf) was refused with a VerificationError.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from oracle import op_operands

import symgrad as sg
from symgrad.ir.evaluate import evaluate
from symgrad.ir.node import symbol
from symgrad.ir.ops import OPS
from symgrad.tracing.functions import primitive

BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(not shutil.which("gcc"), reason="no C compiler"))]
X = sg.symbols("x")
XS = np.array([-1.5, -0.25, 0.0, 0.5, 2.0], dtype=np.float32)


@pytest.mark.parametrize("name", list(OPS))
def test_every_reference_keeps_float32_operands_float32(name):
    op = OPS[name]
    operands = [XS] * op_operands(op)
    if name == "where":
        operands[0] = (XS > 0).astype(np.float32)
    with np.errstate(all="ignore"):
        assert np.asarray(op.ref(*operands)).dtype == np.float32
        assert np.asarray(op.ref(*(np.float32(0.5) for _ in operands))).dtype == np.float32
    syms = [symbol(f"a{i}") for i in range(len(operands))]
    with np.errstate(all="ignore"):
        (value,) = evaluate([primitive(name)(*syms)], dict(zip(syms, operands)), np.float32)
    assert np.asarray(value).dtype == np.float32


def _erf32(xs, fn):
    return np.array([fn(float(v)) for v in xs], dtype=np.float32)


CASES = {
    "1e40*stop_gradient(x)": (lambda: 1e40 * sg.stop_gradient(X), lambda xs: np.float32(np.inf) * xs),
    "1e40*(x > 0) + x": (lambda: 1e40 * (X > 0) + X, lambda xs: np.float32(np.inf) * (xs > 0).astype(np.float32) + xs),
    "1e39*erf(x)": (lambda: 1e39 * sg.erf(X), lambda xs: np.float32(1e39) * _erf32(xs, math.erf)),
    "1e39*erfc(x)": (lambda: 1e39 * sg.erfc(X), lambda xs: np.float32(1e39) * _erf32(xs, math.erfc)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_float32_kernels_past_float32s_range_pass_verify(case, backend):
    build, numpy_float32 = CASES[case]
    f = sg.compile(build(), inputs=[X], backend=backend, dtype="float32", verify=True)  # raised VerificationError
    with np.errstate(all="ignore"):
        got, want = f(XS), numpy_float32(XS)
    assert got.dtype == np.float32 and want.dtype == np.float32
    np.testing.assert_array_equal(got, want)
