"""What a compiled function gives for the values a caller passes: each kind of argument, on every path."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


@pytest.mark.parametrize("x", [1.00000001, 1, 3.0000002])
def test_float32_plain_floats_compute_in_float32(x):
    """dtype="float32": Python floats are cast and every step rounds to float32, as with float32 arrays.

    The numpy backend's scalar fast path computed them in float64 and rounded only the
    results: x - 1 at 1.00000001 was 1e-08 where float32 (a float32 array, the C backend) gives 0.
    """
    f = sg.compile(lambda x: (x - 1.0) * 3.0, dtype="float32")
    want = (np.float32(x) - np.float32(1.0)) * np.float32(3.0)
    got = f(x)
    assert type(got) is np.float32 and got == want
    assert got == f(np.array([x], dtype=np.float32))[0]
    g = sg.value_and_grad(lambda x, y: np.exp(x) * y - x, argnums=(0, 1), dtype="float32")
    value, (gx, gy) = g(x, 2.5)
    arrays = g(np.float32(x), np.float32(2.5))
    assert all(type(v) is np.float32 for v in (value, gx, gy))
    assert (value, gx, gy) == (arrays[0], *arrays[1])
