"""Running a fused reduction kernel (:mod:`symgrad.codegen.reduce_source`): on a GPU, or emulated on the CPU.

On the GPU the kernel is loaded through CuPy and launched once over all the
samples; it writes one partial sum per block and output, which the host adds
in block order with ``math.fsum`` (deterministic: the same input, grid and
device give the same result).  :class:`EmulatedCudaReduce` compiles the same
CUDA source as C++ (``templates/cuda/reduce_emulation.cpp.j2``) with real
threads per block and a barrier for ``__syncthreads()``, so the block
reduction is tested without a GPU.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from ..codegen.reduce_source import ReduceKernel
from ..codegen.render import render
from .c import BASE_FLAGS, compile_library, load_library, pointers_and_strides
from .c_reduce import slot_totals
from .cuda import cupy, loaded_function, sm_count

BLOCKS_PER_SM = 8  # resident blocks per multiprocessor; each thread then sums many points before the block tree


def combine(partials: np.ndarray) -> np.ndarray:
    """The blocks' partial sums ``(blocks, sums)`` added per output in block order, exactly rounded."""
    return np.array([_fsum(column) for column in partials.T], dtype=np.float64)


def _fsum(column) -> float:
    """``math.fsum``, with IEEE results where it raises: inf + -inf is nan, an overflowing sum is +-inf."""
    try:
        return math.fsum(column)
    except ValueError:  # -inf + inf
        return math.nan
    except OverflowError:  # finite partials whose sum overflows
        with np.errstate(over="ignore"):
            return math.copysign(math.inf, float(np.sum(column)))


class CudaReduceKernel:
    """The fused map + block-reduction kernel on CuPy arrays: ``totals(columns, n)`` per output slot."""

    def __init__(self, kernel: ReduceKernel) -> None:
        self.kernel = kernel

    def totals(self, columns: list, n: int) -> np.ndarray:
        if not self.kernel.n_sums:
            return slot_totals(self.kernel, np.zeros(0), n)
        cp = cupy()
        block = self.kernel.block
        grid = max(1, min(-(-n // block), sm_count(cp.cuda.Device().id) * BLOCKS_PER_SM))
        ptrs = np.array([c.data.ptr for c in columns] or [0], dtype=np.uint64)
        strides = np.array([0 if c.ndim == 0 else c.strides[0] // c.itemsize for c in columns] or [0], dtype=np.int64)
        partials = cp.empty((grid, self.kernel.n_sums), dtype=cp.float64)
        args = (cp.asarray(ptrs), cp.asarray(strides), partials, np.int64(n))
        loaded_function(self.kernel)((grid,), (block,), args)
        return slot_totals(self.kernel, combine(cp.asnumpy(partials)), n)


class EmulatedCudaReduce:
    """A reduction kernel's own CUDA source run on the CPU over ``grid`` blocks of ``kernel.block`` threads."""

    def __init__(self, kernel: ReduceKernel, grid: int = 3) -> None:
        self.kernel = kernel
        self.grid = grid
        self._fn = None

    def partials(self, columns: list[np.ndarray], n: int) -> np.ndarray:
        """The ``(grid, sums)`` partial sums the kernel writes."""
        if self._fn is None:
            source = render("cuda/reduce_emulation.cpp.j2", kernel_source=self.kernel.source, name=self.kernel.name)
            flags = tuple(f for f in BASE_FLAGS if not f.startswith("-std=")) + ("-std=c++14", "-pthread", "-lstdc++")
            lib = load_library(compile_library(source, flags, "c++"))
            self._fn = lib.sg_launch_reduce
            self._fn.restype = None
            self._fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] + [ctypes.c_uint] * 2
        ins, strides = pointers_and_strides(columns)
        out = np.full((self.grid, max(self.kernel.n_sums, 1)), np.nan)
        self._fn(ins, strides, out.ctypes.data, n, self.grid, self.kernel.block)
        return out[:, : self.kernel.n_sums]

    def totals(self, columns: list[np.ndarray], n: int) -> np.ndarray:
        return slot_totals(self.kernel, combine(self.partials(columns, n)), n)
