"""Generated source in, callable out; compiled once per source text.

The only ``exec`` in symgrad runs source that symgrad generated from the IR,
in a fresh namespace holding just numpy, math and the scalar helpers.  A module
given as parts is compiled and run part by part into that one namespace:
CPython's ``compile()`` needs ~200 bytes of memory per source byte, so a long
kernel compiled whole would need gigabytes at once, part by part a few MB.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..ir.ops import SCALAR_NAMESPACE
from .once import BuiltOnce

_BUILT = BuiltOnce()


def source_hash(source: str | Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in [source] if isinstance(source, str) else source:
        h.update(part.encode())
    return h.hexdigest()


def load_python(source: str | Sequence[str], name: str) -> Callable:
    """The function ``name`` defined by ``source`` (one text, or parts run in order), cached by its hash.

    Safe to call from many threads at once: the first caller for a source
    compiles it while the others wait on that source's lock (compiling a huge
    kernel takes seconds; doing it once per racing thread would multiply that),
    then all get the same function.
    """
    key = source_hash(source) + ":" + name

    def build() -> Callable:
        namespace: dict = {"np": np, "math": math, **SCALAR_NAMESPACE}
        for part in [source] if isinstance(source, str) else source:
            code = compile(part, f"<symgrad {key[:12]}>", "exec")
            exec(code, namespace)  # noqa: S102 - symgrad-generated source only
            del code
        return namespace[name]

    return _BUILT.get(key, build)


def clear_cache() -> None:
    """Forget every compiled function (the next call compiles again)."""
    _BUILT.clear()
