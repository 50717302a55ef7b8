"""symgrad's own exceptions: every error a user can trigger is one of these."""

import numpy as np

_NumpyAxisError = getattr(np, "exceptions", np).AxisError  # np.exceptions is numpy >= 1.25


class SymgradError(Exception):
    """Base class of all symgrad errors."""


class ShapeError(SymgradError, ValueError):
    """Arguments whose shapes do not fit the declared shapes or do not broadcast."""


class AxisError(ShapeError, _NumpyAxisError):
    """An ``axis=`` that is out of range, repeated or not an integer.

    Also numpy's ``AxisError`` (so a ``ValueError`` and an ``IndexError``), so code
    written for numpy's reductions catches it unchanged.
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)  # numpy's __init__ would reformat the message from (axis, ndim)

    def __str__(self) -> str:
        return str(self.args[0])


class TraceError(SymgradError, TypeError):
    """A traced function did something symgrad cannot follow symbolically."""


class _ArrayTruthError(TraceError, ValueError):
    """``if v > 0:`` on a symbolic array of several elements: a TraceError, and the ValueError numpy raises for it."""


class ArrayMethodError(TraceError, AttributeError):
    """An array method or attribute (``x.sum()``, ``x.shape``) on a scalar symbolic value.

    Also an ``AttributeError``, so ``hasattr``/``getattr(x, name, default)`` probes still work.
    """


class DiffError(SymgradError, ValueError):
    """A derivative was requested that makes no sense (not a symbol, non-scalar grad...)."""


class UnsupportedOpError(SymgradError, TypeError):
    """An operation has no definition (or no spelling for the requested backend)."""

    def __init__(self, op: str, backend: str | None = None, hint: str = "") -> None:
        where = f" for backend {backend!r}" if backend else ""
        super().__init__(f"symgrad does not support {op!r}{where}.{(' ' + hint) if hint else ''}")
        self.op = op
        self.backend = backend


class BackendError(SymgradError, RuntimeError):
    """A backend cannot be used here (missing package, device or compiler)."""


class InputError(SymgradError, TypeError):
    """A compiled function was called with arguments of the wrong kind or number."""


class LimitError(InputError):
    """A job went past its work budget (nodes built, or seconds; see :mod:`symgrad.limits`).

    ``limit`` names the limit (``"max_nodes"`` or ``"seconds"``) and ``value`` its setting.
    """

    def __init__(self, message: str, limit: str = "", value: float = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class SymbolNameError(InputError, ValueError):
    """A symbol name that is not an identifier (``sg.symbols("1x")``); also the ValueError it used to be."""


class FormulaError(SymgradError, ValueError):
    """A formula string that symgrad refuses to parse; ``token`` and ``position`` (0-based column) say where."""

    def __init__(self, message: str, token: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.token = token
        self.position = position


class VerificationError(SymgradError, AssertionError):
    """Generated code disagreed with the reference interpreter (``verify=True``): a symgrad bug, please report it."""
