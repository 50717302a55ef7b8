"""Each kernel built once per process, however many threads ask for it at the same time.

Every backend keeps what it has built (Python functions, loaded C libraries, CuPy
modules) by a key of the generated source.  The first caller for a key builds it
while later callers for the same key wait on that key's lock; callers for other
keys, and for keys already built, never wait: a compile of minutes holds no lock
that anything else needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor


class BuiltOnce:
    """A per-process cache of built things, one lock per key being built."""

    def __init__(self) -> None:
        self._built: dict[Hashable, object] = {}
        self._lock = threading.Lock()  # guards _built and _pending; never held while building
        self._pending: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], object]):
        """What ``build()`` returned for ``key``, building it at most once."""
        found = self._built.get(key)
        if found is not None:
            return found
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            found = self._built.get(key)
            if found is None:
                found = build()
                with self._lock:
                    self._built[key] = found
        with self._lock:
            self._pending.pop(key, None)
        return found

    def clear(self) -> None:
        """Forget everything built (the next request builds again)."""
        with self._lock:
            self._built.clear()


_POOLS = BuiltOnce()


def thread_pool(name: str) -> ThreadPoolExecutor:
    """The process's pool of one thread per core for ``name``, made at first use.

    Pools are separate by name because a task of one may wait on tasks of another
    (a dataset chunk runs a C kernel that splits its batch over threads): sharing
    one pool could leave every thread waiting.
    """
    return _POOLS.get(name, lambda: ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix=name))
