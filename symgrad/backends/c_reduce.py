"""Running a fused C reduction kernel (:func:`symgrad.codegen.reduce_source.generate_reduce_c`).

The kernel is built by the C backend's compiler with the C backend's flags (the
same vectorisation, ISA level, vector math and ``-ffp-contract=off``), kept in
the same on-disk cache, and called through ``ctypes`` (which releases the GIL)
once per range of samples: the input pointers and strides are made once per
call of the compiled function, so a range costs one foreign call and returns
its sums -- no per-sample output is ever written.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

import numpy as np

from ..codegen.reduce_source import ReduceKernel
from .c import compile_library, kernel_flags, load_library, pointers_and_strides


def slot_totals(kernel: ReduceKernel, sums: np.ndarray, n: int) -> np.ndarray:
    """Each output slot's sum over ``n`` points: its kernel sum, or ``n * c`` for a constant."""
    index = np.asarray(kernel.slot_sum, dtype=np.intp)
    const = np.asarray(kernel.constants, dtype=np.float64) * n
    if not sums.size:
        return const
    return np.where(index >= 0, sums[np.maximum(index, 0)], const)


class CReduceKernel:
    """A fused C reduction: ``bind(columns)`` gives ``sums(lo, hi)``, the slot sums over points ``[lo, hi)``."""

    def __init__(self, kernel: ReduceKernel, fast_math: bool = False) -> None:
        self.kernel = kernel
        self.fast_math = fast_math
        self._fn = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._fn is None:
                flags = kernel_flags(self.kernel, self.fast_math)
                fn = getattr(load_library(compile_library(self.kernel.source, flags)), self.kernel.name)
                fn.restype = None
                fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] * 2
                self._fn = fn
        return self._fn

    def bind(self, columns: list[np.ndarray]) -> Callable[[int, int], np.ndarray]:
        """The sums over a range of the points of ``columns`` (kept referenced while the result lives)."""
        fn = self._fn or self._load()
        ins, strides = pointers_and_strides(columns)
        kernel, count = self.kernel, self.kernel.n_sums

        def sums(lo: int, hi: int, _keep=columns) -> np.ndarray:
            out = np.zeros(max(count, 1))
            if count and hi > lo:
                fn(ins, strides, out.ctypes.data, lo, hi)
            return slot_totals(kernel, out[:count], hi - lo)

        return sums
