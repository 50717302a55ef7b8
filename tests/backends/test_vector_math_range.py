"""Each vector libm variant the C backend declares stays within 2 ulp of libm over the whole float range.

``symgrad.backends.vecmath.WITHIN_2_ULP`` lists the functions whose vector variants a kernel
may call; each is checked here in a kernel of its own (one call per loop, so the compiler
vectorises it), from the smallest subnormal to the largest float of both signs, near the
overflow thresholds and at the special values, against the same kernel with scalar libm.
SLEEF's log1p returned inf past 1e307 (float32: 1e38), where libm and numpy give about 709
(88), and its float32 sinh/cosh inf from 88.8, where libm is finite.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import vecmath

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
X, Y = sg.symbols("x y")
UNARY = {
    "sin": sg.sin, "cos": sg.cos, "tan": sg.tan, "asin": sg.arcsin, "acos": sg.arccos, "atan": sg.arctan,
    "sinh": sg.sinh, "cosh": sg.cosh, "tanh": sg.tanh, "exp": sg.exp, "expm1": sg.expm1, "log": sg.log,
    "log1p": sg.log1p, "erf": sg.erf,
}  # fmt: skip
BINARY = {"atan2": sg.arctan2, "hypot": sg.hypot, "pow": lambda a, b: a**b}


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ints = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a.view(ints).astype(np.int64), b.view(ints).astype(np.int64)
    top = np.int64(np.iinfo(ints).min)
    ia, ib = np.where(ia < 0, top - ia, ia), np.where(ib < 0, top - ib, ib)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, np.abs(ia - ib).astype(np.float64))


def _range(dtype: str, n: int) -> np.ndarray:
    fi = np.finfo(dtype)
    low, high = np.log10(float(fi.smallest_subnormal)), np.log10(float(fi.max))
    with np.errstate(over="ignore"):  # the last power of ten rounds past the largest float
        logs = np.minimum(np.logspace(low, high, n), float(fi.max))
    mags = np.concatenate([logs, np.linspace(0.0, 800.0, n), [float(fi.max), float(fi.tiny)]])
    return np.concatenate([mags, -mags, [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_declared_vector_variants_are_within_2_ulp_of_libm_everywhere(dtype, vector_math):
    declared = vecmath.functions(dtype)
    if not declared:
        pytest.skip("no vector math library here (SLEEF's libsleefgnuabi or glibc's libmvec)")
    library = vecmath.library()
    xs = _range(dtype, 3000)
    grid = _range(dtype, 60)
    a, b = (g.ravel() for g in np.meshgrid(grid, grid))
    cases = [(name, UNARY[name](X), [X], (xs,)) for name in declared if name in UNARY]
    cases += [(name, BINARY[name](X, Y), [X, Y], (a, b)) for name in declared if name in BINARY]
    got = {}
    for mode in (library, "none"):
        vector_math(mode)
        for name, e, inputs, args in cases:
            f = sg.compile(e, inputs=inputs, backend="c", dtype=dtype)
            assert (name in f.kernel.vector_math) == (mode != "none")
            with np.errstate(all="ignore"):
                got.setdefault(name, []).append(np.asarray(f(*args)))
    worst = {}
    for name, e, inputs, args in cases:
        vector, scalar = got[name]
        ulps = _ulps(vector, scalar)
        if ulps.max() > 2:
            k = int(np.argmax(ulps))
            worst[name] = ([float(v[k]) for v in args], float(vector[k]), float(scalar[k]))
    assert not worst, worst
    if dtype == "float64":  # log1p near the top of the range: numpy's value, on whichever path log1p takes
        f = sg.compile(sg.log1p(X), inputs=[X], backend="c")
        big = np.array([1e307, 1e308, float(np.finfo(float).max)] * 50)
        np.testing.assert_allclose(f(big), np.log1p(big), rtol=1e-15)
