"""The protocol every backend implements, so the compiled-object layer never names one.

A backend turns a kernel description (input symbols, output slots, dtype) into
source text, loads that source into a callable ``kernel(columns, outputs, n)``
that fills ``outputs`` (1-D rows of a ``(slots, n)`` block) from ``columns`` (one
1-D input column or 0-d scalar per input symbol), says whether its toolchain is
present, and forgets what it has compiled.  Adding a backend means one module
with one object satisfying :class:`Backend`, registered in
:mod:`symgrad.backends`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..ir.node import Node

KernelFn = Callable[[list, list, int], None]


class Backend(Protocol):
    name: str
    scalar_path: bool
    """True if plain Python floats take a straight-line scalar path (the kernel then has ``scalar_source``)."""
    plain_floats: bool
    """True if float arguments give Python floats back (results live in host memory)."""

    def check_available(self) -> None:
        """Raise :class:`~symgrad.errors.BackendError` saying what is missing (compiler, CuPy, GPU)."""

    def generate(self, inputs: list[Node], slots: Any, dtype: str, results_format: str | None = None) -> Any:
        """The kernel's source (``.source``) and what calling it needs; no toolchain is used.

        ``slots``: the output slots' :class:`~symgrad.codegen.kernel.SlotTable`, or their nodes
        (:func:`~symgrad.codegen.kernel.slot_table` gives a table for either).
        """

    def load(self, kernel: Any, threads: int, fast_math: bool) -> KernelFn:
        """A callable running ``kernel``; compiling may happen here or on its first call."""

    def load_scalar(self, kernel: Any) -> Callable:
        """Only where ``scalar_path``: the function taking and returning plain floats."""

    def array_module(self) -> Any:
        """numpy, or the array module whose arrays the kernel reads and writes (CuPy)."""

    def clear_cache(self) -> None:
        """Forget the kernels compiled in this process (the next call compiles again)."""


class TapeBackend(Backend, Protocol):
    """A backend that also runs a tape built elsewhere: a huge gradient's reverse mode (symgrad.codegen.adjoint).

    Optional: ``sg.grad`` of a huge graph on a backend without ``from_tape`` compiles the symbolic gradient.
    """

    def from_tape(self, tape: Any, table: Any, dtype: str, results_format: str | None, gh: str) -> Any:
        """The kernel running ``tape`` (a :class:`~symgrad.codegen.tape.Tape`), writing ``table``'s distinct
        computed nodes in its output slots, in order (``gh``: the name its code goes by); ``load`` takes it like the
        others."""
