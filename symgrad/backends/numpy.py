"""The numpy backend: a fused numpy kernel over chunks of the batch, and a scalar path for plain floats."""

from __future__ import annotations

import numpy as np

from ..codegen.kernel import Kernel, generate
from .pyload import clear_cache, load_python


class NumpyBackend:
    name = "numpy"
    scalar_path = True
    plain_floats = True

    def check_available(self) -> None:
        """numpy is always there."""

    def generate(self, inputs, slots, dtype: str, results_format: str | None = None) -> Kernel:
        return generate(inputs, slots, dtype, results_format)

    def load(self, kernel: Kernel, threads: int = 1, fast_math: bool = False):
        return _LazyKernel(kernel)

    def load_scalar(self, kernel: Kernel):
        """The straight-line function for plain Python floats."""
        return load_python(kernel.scalar_source, kernel.scalar_name)

    def array_module(self):
        return np

    def clear_cache(self) -> None:
        clear_cache()


class _LazyKernel:
    """The numpy kernel, compiled by CPython on its first call (many objects only ever take the scalar path)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._fn = None

    def __call__(self, columns: list, outputs: list, n: int) -> None:
        if self._fn is None:
            self._fn = load_python(self.kernel.numpy_source, self.kernel.numpy_name)
        self._fn(columns, outputs, n)


BACKEND = NumpyBackend()
