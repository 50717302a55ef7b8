"""Which vector math the C backend may use here: the ISA level, and libm functions with vector variants.

A C kernel's loop over points is vectorised by the compiler (``#pragma omp simd``);
a call to a libm function stays vectorisable only if the function is declared
with a vector variant (the GNU vector ABI, ``_ZGVdN4v_sin``...).  Two libraries
provide them on Linux: SLEEF's ``libsleefgnuabi`` (optional: ``apt install
libsleef-dev``; its unsuffixed functions have a 1-ulp bound) and glibc's own
``libmvec`` (up to 4 ulp).  With ``fast_math=False`` a function is declared only
if its vector variant stayed within 2 ulp of the scalar libm result over the
ranges and special values of ``tests/backends/test_c_scale.py`` (measured with glibc 2.36 and
SLEEF 3.5.1 on x86-64-v3 and -v4); a loop calling any other function stays
scalar, with libm's own results.  ``fast_math=True`` compiles with
``-ffast-math``, under which glibc's headers declare every libmvec variant.

``$SYMGRAD_VECTOR_MATH`` (``sleef``, ``mvec`` or ``none``) overrides the choice.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# Functions whose vector variants stayed within 2 ulp of libm, per library and float type, over the whole
# float range (tests/backends/test_vector_math_range.py).
# (sinh/cosh from SLEEF return inf near the overflow threshold, 710 (float32: 88.8), where libm is finite;
# SLEEF's log1p returns inf past 1e307 (float32: 1e38), where libm gives 707-709 (87.5-88.7).)
# (hypot: within 1 ulp in both, float64 and float32, over 1e-300..1e300 and every pair of inf, nan, 0, subnormals.)
WITHIN_2_ULP = {
    ("sleef", "float64"): (
        "sin", "cos", "tan", "asin", "acos", "atan", "tanh", "exp", "expm1", "log", "erf", "atan2", "pow", "hypot",
    ),
    ("sleef", "float32"): (
        "sin", "cos", "tan", "asin", "acos", "atan", "tanh", "exp", "expm1", "log", "erf", "atan2", "pow", "hypot",
    ),
    ("mvec", "float64"): ("acos", "atan", "cosh", "log", "log1p", "erf", "atan2", "pow", "hypot"),
    ("mvec", "float32"): ("sin", "cos", "acos", "atan", "sinh", "cosh", "expm1", "log1p", "pow", "hypot"),
}  # fmt: skip
LINK = {"sleef": "-lsleefgnuabi", "mvec": "-lmvec"}
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


def _has_library(stem: str) -> bool:
    dirs = [*os.environ.get("LIBRARY_PATH", "").split(":"), *_LIB_DIRS]
    return any(d and (Path(d) / f"lib{stem}.so").exists() for d in dirs)


@functools.cache
def library() -> str:
    """``"sleef"``, ``"mvec"`` or ``"none"``: the vector math library found (x86-64 Linux only)."""
    forced = os.environ.get("SYMGRAD_VECTOR_MATH", "").strip().lower()
    if forced in ("sleef", "mvec", "none"):
        return forced
    if platform.machine() not in ("x86_64", "AMD64") or platform.system() != "Linux":
        return "none"
    if _has_library("sleefgnuabi"):
        return "sleef"
    return "mvec" if _has_library("mvec") else "none"


def functions(dtype: str) -> tuple[str, ...]:
    """The libm functions a kernel of ``dtype`` may call through vector variants (fast_math=False)."""
    return WITHIN_2_ULP.get((library(), dtype), ())


@functools.cache
def isa_flags() -> tuple[str, ...]:
    """``-march=x86-64-v4`` / ``-v3`` where the CPU has AVX-512 / AVX2+FMA (part of the cache key), else none.

    A level, not ``-march=native``: the flag names what the library needs, so a
    cache shared by machines of different CPUs never hands one a library it cannot run.
    """
    if platform.machine() not in ("x86_64", "AMD64"):
        return ()
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split())
    except (OSError, IndexError):
        return ()
    if {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags:
        return ("-march=x86-64-v4",)
    if {"avx2", "fma", "bmi2", "movbe"} <= flags:
        return ("-march=x86-64-v3",)
    return ()
