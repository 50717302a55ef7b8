"""A manifest corrupted into deeply nested JSON is rebuilt, as any corrupt manifest is.

json.loads raises RecursionError (not a ValueError) past the interpreter's recursion limit: within the 64-KB
manifest limit, 30,000 nested brackets escaped the cache's checks and every compile of that kernel failed
with a RecursionError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from symgrad.backends import cache

KEY = cache.cache_key("a nested source", "a compiler", "-O3")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(home / "cache"))
    cache._resolve.cache_clear()
    yield home / "cache"
    cache._resolve.cache_clear()


@pytest.mark.parametrize("text", ["[" * 30000 + "]" * 30000, '{"a":' * 10000 + "1" + "}" * 10000])
def test_a_deeply_nested_manifest_is_rebuilt(cache_dir, text):
    calls = []

    def build(path: Path) -> None:
        calls.append(path)
        path.write_bytes(b"artifact")

    first = cache.fetch_or_build(KEY, ".so", build)
    (cache_dir / f"{KEY}.json").write_text(text)
    again = cache.fetch_or_build(KEY, ".so", build)
    assert len(calls) == 2 and again == first and again.read_bytes() == b"artifact"
