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

from ..ir.ops import SCALAR_NAMESPACE

_CACHE: dict[str, Callable] = {}
_LOCK = threading.Lock()  # guards _CACHE and _PENDING
_PENDING: dict[str, threading.Lock] = {}  # one lock per source being compiled


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def load_python(source: str, name: str) -> Callable:
    """The function ``name`` defined by ``source``, cached by the source's hash.

    Safe to call from many threads at once: the first caller for a source
    compiles it while the others wait on that source's lock (compiling a huge
    kernel takes seconds; doing it once per racing thread would multiply that),
    then all get the same function.
    """
    key = source_hash(source) + ":" + name
    fn = _CACHE.get(key)
    if fn is not None:
        return fn
    with _LOCK:
        pending = _PENDING.setdefault(key, threading.Lock())
    with pending:
        fn = _CACHE.get(key)
        if fn is None:
            namespace: dict = {"np": np, "math": math, **SCALAR_NAMESPACE}
            code = compile(source, f"<symgrad {key[:12]}>", "exec")
            exec(code, namespace)  # noqa: S102 - symgrad-generated source only
            fn = namespace[name]
            with _LOCK:
                _CACHE[key] = fn
    with _LOCK:
        _PENDING.pop(key, None)
    return fn


def clear_cache() -> None:
    """Forget every compiled function (the next call compiles again)."""
    with _LOCK:
        _CACHE.clear()
