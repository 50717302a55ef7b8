"""The CUDA backend's runtime: generated CUDA C loaded through CuPy, one thread per point.

A kernel is compiled once per source text (CuPy's ``RawModule``, which also keeps
its own on-disk cache of the compiled binary) and launched with a grid-stride
loop, so any batch size works with a grid sized to the device.  CuPy is
imported only when the backend is asked for: without it (or without a GPU) the
request fails with a :class:`~symgrad.errors.BackendError` saying what is
missing, and the rest of symgrad never notices.
"""

from __future__ import annotations

import functools

import numpy as np

from ..codegen.csource import NativeKernel, generate_native
from ..errors import BackendError
from .once import BuiltOnce

BLOCK = 256  # threads per block
BLOCKS_PER_SM = 32  # enough resident blocks to hide memory latency; the grid-stride loop covers the rest


@functools.lru_cache(maxsize=1)
def cupy():
    """The cupy module, with a usable GPU, or a BackendError saying what is missing."""
    try:
        import cupy as cp
    except ImportError:
        raise BackendError(
            "backend='cuda' needs CuPy, which is not installed: pip install 'symgrad[cuda]' "
            "(installs cupy-cuda12x; cupy-cuda13x works too), or use backend='numpy' or backend='c'"
        ) from None
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CuPy raises several runtime error types without a driver
        raise BackendError(f"backend='cuda' found CuPy but no usable CUDA GPU or driver ({exc})") from None
    if count == 0:
        raise BackendError("backend='cuda' found CuPy but no CUDA GPU")
    return cp


def is_device_array(value) -> bool:
    """True for a CuPy array (checked without importing CuPy)."""
    return type(value).__module__.startswith("cupy") and hasattr(value, "data") and hasattr(value, "device")


_FUNCTIONS = BuiltOnce()


def loaded_function(kernel):
    """The CuPy function of a generated kernel (anything with ``.source`` and ``.name``), compiled once per source."""

    def build():
        return cupy().RawModule(code=kernel.source, options=("--std=c++14",)).get_function(kernel.name)

    return _FUNCTIONS.get(kernel.source, build)


@functools.cache
def sm_count(device: int) -> int:
    """How many multiprocessors the device has (grids are sized from it)."""
    return cupy().cuda.runtime.getDeviceProperties(device)["multiProcessorCount"]


def _grid_limit(device: int) -> int:
    return sm_count(device) * BLOCKS_PER_SM


class CudaKernel:
    """Launches a CUDA kernel as ``kernel(columns, outputs, n)`` on device arrays."""

    def __init__(self, kernel: NativeKernel) -> None:
        self.kernel = kernel

    def __call__(self, columns: list, outputs: list, n: int) -> None:
        cp = cupy()
        fn = loaded_function(self.kernel)
        ptrs = np.array([c.data.ptr for c in columns] or [0], dtype=np.uint64)
        strides = np.array([0 if c.ndim == 0 else c.strides[0] // c.itemsize for c in columns] or [0], dtype=np.int64)
        outs = np.array([o.data.ptr for o in outputs] or [0], dtype=np.uint64)
        out_stride = outputs[0].strides[0] // outputs[0].itemsize if outputs and outputs[0].size > 1 else 1
        if n == 0:
            return
        grid = max(1, min(-(-n // BLOCK), _grid_limit(cp.cuda.Device().id)))
        args = (cp.asarray(ptrs), cp.asarray(strides), cp.asarray(outs), np.int64(out_stride), np.int64(n))
        fn((grid,), (BLOCK,), args)


class CudaBackend:
    """CUDA C through CuPy: one GPU thread per point; arrays in and out are CuPy arrays."""

    name = "cuda"
    scalar_path = False
    plain_floats = False

    def check_available(self) -> None:
        cupy()

    def generate(self, inputs, slots, dtype: str, results_format: str | None = None) -> NativeKernel:
        """The CUDA kernel of ``slots`` (their :class:`~symgrad.codegen.kernel.SlotTable`, or their nodes)."""
        return generate_native(inputs, slots, dtype, "cuda")

    def load(self, kernel: NativeKernel, threads: int = 1, fast_math: bool = False) -> CudaKernel:
        return CudaKernel(kernel)

    def array_module(self):
        return cupy()

    def clear_cache(self) -> None:
        _FUNCTIONS.clear()


BACKEND = CudaBackend()
