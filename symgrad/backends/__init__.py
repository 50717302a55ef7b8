"""The backends behind one protocol (:class:`~symgrad.backends.base.Backend`), by name.

Adding a backend: write its module (generate source, load it, say whether its
toolchain is there, clear its cache) and add it to :data:`REGISTRY`.
"""

from __future__ import annotations

from ..errors import BackendError
from . import c, cuda
from . import numpy as numpy_backend
from .base import Backend

REGISTRY: dict[str, Backend] = {b.name: b for b in (numpy_backend.BACKEND, c.BACKEND, cuda.BACKEND)}
NAMES = tuple(REGISTRY)


def get(name: object) -> Backend:
    """The backend called ``name``, or a BackendError listing the ones there are."""
    backend = REGISTRY.get(name) if isinstance(name, str) else None
    if backend is None:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(map(repr, NAMES))}")
    return backend


def array_module_of(value):
    """numpy, or CuPy for a CuPy array (without importing CuPy otherwise)."""
    import numpy as np

    return cuda.cupy() if cuda.is_device_array(value) else np


def clear_caches() -> None:
    """Forget every kernel compiled in this process, on every backend."""
    for backend in REGISTRY.values():
        backend.clear_cache()
