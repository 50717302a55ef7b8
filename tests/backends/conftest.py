"""Fixtures shared by the backend tests."""

from __future__ import annotations

import pytest

from symgrad.backends import vecmath


@pytest.fixture
def vector_math(monkeypatch):
    """Set $SYMGRAD_VECTOR_MATH for one test (vecmath caches what it found)."""

    def use(name: str) -> None:
        monkeypatch.setenv("SYMGRAD_VECTOR_MATH", name)
        vecmath.library.cache_clear()

    yield use
    monkeypatch.delenv("SYMGRAD_VECTOR_MATH", raising=False)
    vecmath.library.cache_clear()
