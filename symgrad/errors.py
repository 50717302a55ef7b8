"""symgrad's own exceptions: every error a user can trigger is one of these."""


class SymgradError(Exception):
    """Base class of all symgrad errors."""


class ShapeError(SymgradError, ValueError):
    """Arguments whose shapes do not fit the declared shapes or do not broadcast."""


class TraceError(SymgradError, TypeError):
    """A traced function did something symgrad cannot follow symbolically."""


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


class FormulaError(SymgradError, ValueError):
    """A formula string that symgrad refuses to parse; ``token`` and ``position`` (0-based column) say where."""

    def __init__(self, message: str, token: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.token = token
        self.position = position


class VerificationError(SymgradError, AssertionError):
    """Generated code disagreed with the reference interpreter (``verify=True``): a symgrad bug, please report it."""
