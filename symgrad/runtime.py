"""Generated source in, callable out; compiled once per source text.

The only ``exec`` in symgrad runs source that symgrad generated from the IR,
in a fresh namespace holding just numpy, math and the scalar helpers.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable

import numpy as np

from .ops import SCALAR_NAMESPACE

_CACHE: dict[str, Callable] = {}
_LOCK = threading.Lock()


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def load_python(source: str, name: str) -> Callable:
    """The function ``name`` defined by ``source``, cached by the source's hash."""
    key = source_hash(source) + ":" + name
    fn = _CACHE.get(key)
    if fn is not None:
        return fn
    namespace: dict = {"np": np, "math": math, **SCALAR_NAMESPACE}
    code = compile(source, f"<symgrad {key[:12]}>", "exec")
    exec(code, namespace)  # noqa: S102 - symgrad-generated source only
    fn = namespace[name]
    with _LOCK:
        _CACHE[key] = fn
    return fn


def clear_cache() -> None:
    """Forget every compiled function (the next call compiles again)."""
    with _LOCK:
        _CACHE.clear()
