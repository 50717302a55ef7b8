"""A per-user on-disk cache of built artifacts (compiled C libraries).

Why this design:

- one directory per user (``$SYMGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/symgrad``,
  else ``~/.cache/symgrad``), created private (0700); a directory that another
  user owns or can write to is never used (a private temporary one is, instead);
- an entry is keyed by a SHA-256 of everything that decides its bytes (the
  source, the compiler and its flags, symgrad's version), and is *verified*
  before use: its manifest (JSON, never pickle) records the SHA-256 of the
  artifact, and a truncated or corrupted file fails that check and is rebuilt,
  never loaded;
- writes are atomic: an artifact is built into a temporary file in the same
  directory and renamed to a name that includes its own content hash, then the
  manifest is written the same way; concurrent writers of one key at worst
  build twice, and a reader sees either no entry or a complete one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._version import __version__


def _default_dir() -> Path:
    if os.environ.get("SYMGRAD_CACHE_DIR"):
        return Path(os.environ["SYMGRAD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


def _is_private(path: Path) -> bool:
    st = path.stat()
    owned = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return owned and not (st.st_mode & 0o022)


@functools.cache
def _resolve(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _is_private(path):
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="symgrad-cache-"))


def cache_dir() -> Path:
    """The directory this process caches into (private to the user)."""
    return _resolve(_default_dir())


def cache_key(*parts: str) -> str:
    """A SHA-256 over symgrad's version and ``parts`` (the source, the compiler, its flags...)."""
    h = hashlib.sha256(__version__.encode())
    for part in parts:
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(directory: Path, key: str) -> Path | None:
    """The artifact recorded for ``key`` if its manifest is sound and its bytes match."""
    try:
        record = json.loads((directory / f"{key}.json").read_text())
        path = directory / record["file"]
        plain_name = os.path.basename(record["file"]) == record["file"]  # never a path out of the cache
        if record.get("key") == key and plain_name and _file_digest(path) == record["sha256"]:
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _atomic_write(directory: Path, name: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_or_build(key: str, suffix: str, build: Callable[[Path], None]) -> Path:
    """The verified artifact for ``key``; ``build(path)`` makes it when missing or corrupt."""
    directory = cache_dir()
    found = _verified(directory, key)
    if found is not None:
        return found
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        build(Path(tmp))
        digest = _file_digest(Path(tmp))
        final = directory / f"{key[:32]}-{digest[:16]}{suffix}"
        os.replace(tmp, final)
    finally:
        Path(tmp).unlink(missing_ok=True)
    record = {"key": key, "file": final.name, "sha256": digest, "symgrad": __version__}
    _atomic_write(directory, f"{key}.json", json.dumps(record).encode())
    return final
