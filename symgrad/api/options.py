"""One typed, frozen options object, built and checked at the API boundary.

Every transformation (``sg.grad``, ``sg.hessian``, ``sg.compile``...) takes the
same code-generation options; they are validated once, here, so a misspelt or
ill-typed option is an :class:`~symgrad.errors.InputError` naming the valid
ones, never a ``TypeError`` from deep inside.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields

import numpy as np

from .. import backends
from ..errors import InputError

DTYPES = {"float64": "float64", "float32": "float32", "double": "float64", "single": "float32"}


@dataclass(frozen=True)
class CompileOptions:
    """How a compiled object is generated and run.

    ``backend``: ``"numpy"``, ``"c"`` or ``"cuda"``; ``dtype``: ``"float64"`` or
    ``"float32"``; ``threads``: how many threads split a batch (C backend);
    ``fast_math``: let the C compiler reorder float arithmetic (``-ffast-math``);
    ``verify``: check the generated code against the reference interpreter
    before first use (None: the ``SYMGRAD_VERIFY`` environment variable decides).
    """

    backend: str = "numpy"
    dtype: str = "float64"
    threads: int = 1
    fast_math: bool = False
    verify: bool | None = None

    def __post_init__(self) -> None:
        backends.get(self.backend)  # an unknown backend: BackendError listing the known ones
        if not isinstance(self.dtype, str) or self.dtype not in DTYPES:
            raise InputError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        object.__setattr__(self, "dtype", DTYPES[self.dtype])
        if not isinstance(self.threads, (int, np.integer)) or isinstance(self.threads, bool) or self.threads < 1:
            raise InputError(f"threads must be a positive int, got {self.threads!r}")
        object.__setattr__(self, "threads", int(self.threads))
        if not isinstance(self.fast_math, (bool, np.bool_)):
            raise InputError(f"fast_math must be True or False, got {self.fast_math!r}")
        if self.verify is not None and not isinstance(self.verify, (bool, np.bool_)):
            raise InputError(f"verify must be True, False or None, got {self.verify!r}")

    @classmethod
    def build(cls, what: str, **given) -> CompileOptions:
        """Options from keyword arguments of ``what`` (e.g. ``"grad"``); unknown names are refused by name."""
        valid = [f.name for f in fields(cls)]
        for key in given:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(f"{what}() got an unknown option {key!r}{hint}; the options are {', '.join(valid)}")
        return cls(**given)

    @property
    def backend_impl(self):
        """The backend object these options name."""
        return backends.get(self.backend)
