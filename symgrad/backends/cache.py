"""A per-user on-disk cache of built artifacts (compiled C libraries).

Why this design:

- one directory per user (``$SYMGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/symgrad``,
  else ``~/.cache/symgrad``), created private (0700).  It is checked at *every*
  fetch and build, not once per process: it must be owned by the user and
  writable by no one else, and so must every directory above it be (owned by
  the user or root) unless that directory is sticky like ``/tmp`` -- otherwise
  another user could rename it away between two compiles and plant a library.
  A directory that fails the check is never used; a private temporary one is;
- the directory is held open while it is used, and entries are opened relative
  to it without following symlinks (``O_NOFOLLOW``, without blocking: a FIFO
  cannot hang a read); an entry is used only if it is a regular file owned by
  the user and no larger than its limit, so a symlink to ``/dev/zero`` is never
  read.  Anything else is treated as missing and rebuilt;
- an entry is keyed by a SHA-256 of everything that decides its bytes (the
  source, the compiler and its flags, symgrad's version), and is *verified*
  before use: its manifest (JSON, never pickle) records the SHA-256 of the
  artifact, and a truncated or corrupted file fails that check and is rebuilt;
- an artifact is built in a private directory, under a name fixed by its key
  (so concurrent builders produce the same bytes), and renamed into place under a
  name that includes its content hash; then the manifest is written the same
  way.  Racing writers at worst build twice and leave one file, and a reader sees
  either no entry or a complete one.  If the cache cannot be written (deleted,
  read-only or full), the artifact is kept in a private temporary directory
  instead; only when no private directory can be had at all is a BackendError
  raised;
- the cache trusts its owner, as every compiler cache does: whoever can write
  the private directory can replace a library and its manifest together.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._version import __version__
from ..errors import BackendError

MAX_MANIFEST_BYTES = 64 * 1024
"""Largest manifest read (a real one is about 250 bytes)."""
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
"""Largest artifact read for verification (a library of a 10^5-node kernel is a few MB)."""

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HAVE_DIR_FD = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


class _Refused(Exception):
    """A directory or entry that is not the user's private, regular one."""


def _default_dir() -> Path:
    if os.environ.get("SYMGRAD_CACHE_DIR"):
        return Path(os.environ["SYMGRAD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


# -- the directory: checked, then held open ------------------------------------------------------


class _Dir:
    """A trusted directory held open; entries are reached relative to it (``dir_fd``) where the OS allows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        if not _HAVE_DIR_FD:  # checked by path: nothing better to hold on to here
            _check_private(os.stat(path, follow_symlinks=False), path)
            return
        self.fd = os.open(path, _DIR_FLAGS)
        try:
            _check_private(os.fstat(self.fd), path)
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _at(self, name: str) -> tuple[str, dict]:
        return (name, {"dir_fd": self.fd}) if self.fd is not None else (str(self.path / name), {})

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        where, kw = self._at(name)
        return os.open(where, flags, mode, **kw)

    def unlink(self, name: str) -> None:
        where, kw = self._at(name)
        try:
            os.unlink(where, **kw)
        except OSError:
            pass

    def rename_into(self, src: Path, name: str) -> None:
        """Move the file ``src`` (a path outside) to ``name`` here, atomically."""
        if self.fd is not None:
            os.rename(src, name, dst_dir_fd=self.fd)
        else:
            os.replace(src, self.path / name)

    def rename(self, src: str, dst: str) -> None:
        if self.fd is not None:
            os.rename(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        else:
            os.replace(self.path / src, self.path / dst)


def _check_private(st: os.stat_result, path: Path) -> None:
    uid = _uid()
    if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid) or st.st_mode & 0o022:
        raise _Refused(f"{path} is not a private directory of this user")


def _check_parents(real: str) -> None:
    """Every directory above ``real`` must be the user's or root's, and writable by no one else unless sticky."""
    uid = _uid()
    parent = os.path.dirname(real)
    while True:
        st = os.stat(parent)
        if uid is not None and st.st_uid not in (0, uid):
            raise _Refused(f"{parent} belongs to another user")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise _Refused(f"{parent} is writable by others and not sticky")
        above = os.path.dirname(parent)
        if above == parent:
            return
        parent = above


def _open_trusted(path: Path, create: bool) -> _Dir:
    """``path`` (created private if asked) held open, after checking it and every directory above it."""
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    real = Path(os.path.realpath(path))
    _check_parents(str(real))
    return _Dir(real)


@functools.cache
def _resolve(path: Path) -> Path:
    """The private temporary directory standing in for ``path`` in this process (made once, removed at exit)."""
    made = Path(tempfile.mkdtemp(prefix="symgrad-cache-"))
    atexit.register(shutil.rmtree, made, True)
    return made


def _open_cache() -> _Dir:
    """The cache directory, checked now; else the private temporary one; else a BackendError."""
    configured = _default_dir()
    try:
        return _open_trusted(configured, create=True)
    except (OSError, _Refused):
        pass
    try:
        return _open_trusted(_resolve(configured), create=True)
    except (OSError, _Refused) as exc:
        raise BackendError(
            f"no private directory to build in (the cache {configured} and a temporary one failed: {exc})"
        ) from None


def cache_dir() -> Path:
    """The directory this process caches into now (private to the user)."""
    d = _open_cache()
    d.close()
    return d.path


def cache_key(*parts: str) -> str:
    """A SHA-256 over symgrad's version and ``parts`` (the source, the compiler, its flags...)."""
    h = hashlib.sha256(__version__.encode())
    for part in parts:
        h.update(b"\0" + part.encode())
    return h.hexdigest()


# -- entries: regular files of the user's, size-checked before they are read ---------------------


def _open_regular(open_fn: Callable[[], int], limit: int) -> tuple[int, int]:
    """The fd and size of a regular file of the user's no larger than ``limit``; _Refused otherwise."""
    try:
        fd = open_fn()
    except OSError as exc:  # missing, a symlink (ELOOP), a directory...
        raise _Refused(str(exc)) from None
    try:
        st = os.fstat(fd)
        uid = _uid()
        if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid) or st.st_size > limit:
            raise _Refused("not a regular file of this user within the size limit")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _read_chunks(fd: int, size: int):
    """The file's bytes in chunks; _Refused if it holds more than ``size`` (it grew after the check)."""
    seen = 0
    while True:
        chunk = os.read(fd, min(1 << 20, size + 1 - seen) or 1)
        if not chunk:
            return
        seen += len(chunk)
        if seen > size:
            raise _Refused("the file grew while it was read")
        yield chunk


def _digest(open_fn: Callable[[], int]) -> str:
    fd, size = _open_regular(open_fn, MAX_ARTIFACT_BYTES)
    try:
        h = hashlib.sha256()
        for chunk in _read_chunks(fd, size):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def _read_manifest(d: _Dir, key: str) -> dict:
    fd, size = _open_regular(lambda: d.open(f"{key}.json", _READ_FLAGS), MAX_MANIFEST_BYTES)
    try:
        record = json.loads(b"".join(_read_chunks(fd, size)))
    finally:
        os.close(fd)
    if not isinstance(record, dict):
        raise _Refused("not a manifest")
    return record


def _verified(d: _Dir, key: str, suffix: str) -> str | None:
    """The name of the artifact recorded for ``key`` if its manifest is sound and its bytes match."""
    try:
        record = _read_manifest(d, key)
        name = record["file"]
        plain = isinstance(name, str) and os.path.basename(name) == name and not name.startswith(".")
        if record.get("key") != key or not plain or not name.endswith(suffix) or "\0" in name:
            return None  # never a path out of the cache, nor a temporary file
        if _digest(lambda: d.open(name, _READ_FLAGS)) == record["sha256"]:
            return name
    except (OSError, ValueError, KeyError, TypeError, RecursionError, _Refused):  # RecursionError: a deeply nested JSON
        pass
    return None


def _write_atomic(d: _Dir, name: str, data: bytes) -> None:
    tmp = f".tmp-{secrets.token_hex(8)}"
    fd = d.open(tmp, _WRITE_FLAGS)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        d.rename(tmp, name)
    except BaseException:
        d.unlink(tmp)
        raise


# -- fetch or build ------------------------------------------------------------------------------------


def fetch_or_build(key: str, suffix: str, build: Callable[[Path], None]) -> Path:
    """The verified artifact for ``key``; ``build(path)`` makes it when missing, corrupt or refused."""
    d = _open_cache()
    try:
        found = _verified(d, key, suffix)
        if found is not None:
            return d.path / found
        return _build(d, key, suffix, build)
    finally:
        d.close()


def _build(d: _Dir, key: str, suffix: str, build: Callable[[Path], None]) -> Path:
    """Build in a private directory inside the cache (a rename installs the result), else in the temporary one.

    A build whose directory vanished meanwhile (the cache was deleted) is done again in the temporary one.
    """
    for last, parent in ((False, lambda: d.path), (True, lambda: _resolve(_default_dir()))):
        try:
            work = Path(tempfile.mkdtemp(prefix=".build-", dir=parent()))
        except OSError:
            continue
        try:
            return _build_in(work, d, key, suffix, build)
        except _Vanished:
            if last:
                raise BackendError(f"the directory {work.parent} was removed while the library was built") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raise BackendError("no private directory to build in: the cache and the temporary directory are not writable")


class _Vanished(Exception):
    """The build directory disappeared during the build."""


def _build_in(work: Path, d: _Dir, key: str, suffix: str, build: Callable[[Path], None]) -> Path:
    target = work / f"{key[:32]}{suffix}"  # a name fixed by the key: racing builders make the same bytes
    try:
        build(target)
        digest = _digest(lambda: os.open(target, _READ_FLAGS))
    except (OSError, _Refused) as exc:
        if not work.is_dir():
            raise _Vanished from None
        if isinstance(exc, OSError):
            raise BackendError(f"building the {suffix} file failed: {exc}") from None
        raise BackendError(f"the build did not produce a regular {suffix} file: {exc}") from None
    final = f"{key[:32]}-{digest[:16]}{suffix}"
    try:
        d.rename_into(target, final)
    except OSError:  # the cache was deleted or made read-only: keep the file privately instead
        return _keep_privately(target, final)
    record = {"key": key, "file": final, "sha256": digest, "symgrad": __version__}
    try:
        _write_atomic(d, f"{key}.json", json.dumps(record).encode())
    except OSError:  # e.g. the disk is full: the library is in place, and without a manifest it is rebuilt later
        pass
    return d.path / final


def _keep_privately(built: Path, name: str) -> Path:
    keep = _resolve(_default_dir()) / name
    try:
        shutil.move(built, keep)
    except OSError as exc:
        raise BackendError(f"cannot keep the built {keep.suffix} file anywhere private: {exc}") from None
    return keep
