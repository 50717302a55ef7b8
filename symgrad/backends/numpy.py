"""The numpy backend: a fused numpy kernel over chunks of the batch, and a scalar path for plain floats.

Past :data:`symgrad.codegen.kernel.TAPE_STATEMENTS` steps the array path is an
instruction tape run by :mod:`symgrad.backends.tape`, and the scalar path sends
its point through the tape too, so nothing waits for CPython's compiler; a tape
of at most :data:`symgrad.backends.tape.STRAIGHT_LINE_INSTRUCTIONS` instructions called with floats again and
again is printed as straight-line code after its first calls (the same bits).
"""

from __future__ import annotations

import numpy as np

from ..codegen.adjoint import listing
from ..codegen.kernel import Kernel, generate, tape_kernel
from .pyload import clear_cache, load_python
from .tape import TapeKernel, TapeScalar


class NumpyBackend:
    name = "numpy"
    scalar_path = True
    plain_floats = True

    def check_available(self) -> None:
        """numpy is always there."""

    def generate(self, inputs, slots, dtype: str, results_format: str | None = None) -> Kernel:
        """The kernel of ``slots`` (their :class:`~symgrad.codegen.kernel.SlotTable`, or their nodes)."""
        return generate(inputs, slots, dtype, results_format)

    def from_tape(self, tape, table, dtype: str, results_format: str | None, gh: str) -> Kernel:
        """The kernel running ``tape`` (reverse mode's, :mod:`symgrad.codegen.adjoint`), writing ``table``'s nodes."""
        return tape_kernel(tape, table, dtype, results_format, gh, lambda: listing(tape, "symgrad's numpy tape"))

    def load(self, kernel: Kernel, threads: int = 1, fast_math: bool = False):
        if kernel.tape is not None:
            return TapeKernel(kernel.tape, kernel.dtype)
        return _LazyKernel(kernel)

    def load_scalar(self, kernel: Kernel):
        """The straight-line function for plain Python floats (for a taped kernel: one point through the tape)."""
        fn = load_python(kernel.scalar_parts, kernel.scalar_name)
        if kernel.tape is not None:  # the scalar path of a taped kernel runs on the tape too
            return TapeScalar(TapeKernel(kernel.tape, kernel.dtype), fn)
        return fn

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
            self._fn = load_python(self.kernel.numpy_parts, self.kernel.numpy_name)
        self._fn(columns, outputs, n)


BACKEND = NumpyBackend()
