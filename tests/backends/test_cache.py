"""The on-disk cache refuses entries that are not the user's plain files, and directories others could swap.

Most tests drive :func:`symgrad.backends.cache.fetch_or_build` with a builder that
writes known bytes (no compiler needed); a few build and load real C libraries.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from symgrad.backends import c as native
from symgrad.backends import cache
from symgrad.errors import BackendError

needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")

KEY = cache.cache_key("a source", "a compiler", "-O3")
OTHER_KEY = cache.cache_key("another source", "a compiler", "-O3")


class Builder:
    """Writes ``artifact <key>`` and counts its calls."""

    def __init__(self, key: str = KEY) -> None:
        self.calls = 0
        self.data = b"artifact " + key.encode()

    def __call__(self, path: Path) -> None:
        self.calls += 1
        path.write_bytes(self.data)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A fresh configured cache directory below a private parent; the private fallback is fresh too."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(home / "cache"))
    cache._resolve.cache_clear()
    yield home / "cache"
    cache._resolve.cache_clear()


def _fetch(key: str = KEY, build: Builder | None = None, timeout: float = 10.0) -> tuple[Path, Builder]:
    """fetch_or_build in a thread, failing (not hanging) if it does not return within ``timeout``."""
    build = build or Builder(key)
    box: dict[str, object] = {}

    def run():
        try:
            box["path"] = cache.fetch_or_build(key, ".so", build)
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test's thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"fetch_or_build hung for more than {timeout} s"
    if "error" in box:
        raise box["error"]
    return box["path"], build


def _artifact(directory: Path) -> Path:
    (found,) = [p for p in directory.iterdir() if p.suffix == ".so"]
    return found


def _plain_file_with(path: Path, data: bytes) -> None:
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and path.read_bytes() == data


# -- entries ------------------------------------------------------------------------------------------


def test_an_entry_is_built_once_then_fetched_verified(cache_dir):
    first, build = _fetch()
    assert first.parent == Path(os.path.realpath(cache_dir)) and build.calls == 1
    again, build2 = _fetch()
    assert again == first and build2.calls == 0
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700


@posix_only
@pytest.mark.parametrize("which", ["artifact", "manifest"])
def test_a_fifo_entry_does_not_hang_and_is_rebuilt(cache_dir, which):
    first, _ = _fetch()
    victim = first if which == "artifact" else cache_dir / f"{KEY}.json"
    victim.unlink()
    os.mkfifo(victim)
    try:
        path, build = _fetch(timeout=10)
    finally:
        if stat.S_ISFIFO(os.lstat(victim).st_mode):  # unblock a reader if the test failed
            fd = os.open(victim, os.O_RDWR | os.O_NONBLOCK)
            os.close(fd)
    assert build.calls == 1
    _plain_file_with(path, build.data)


@posix_only
@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "/dev/urandom"])
@pytest.mark.parametrize("which", ["artifact", "manifest"])
def test_a_symlink_to_a_device_is_never_read_and_is_rebuilt(cache_dir, which, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target}")
    first, _ = _fetch()
    victim = first if which == "artifact" else cache_dir / f"{KEY}.json"
    victim.unlink()
    victim.symlink_to(target)
    path, build = _fetch(timeout=10)
    assert build.calls == 1
    _plain_file_with(path, build.data)


@posix_only
def test_a_symlink_to_a_matching_file_elsewhere_is_refused(cache_dir, tmp_path):
    first, build = _fetch()
    planted = tmp_path / "planted.so"
    planted.write_bytes(build.data)  # the right bytes, even: a symlink is never followed
    first.unlink()
    first.symlink_to(planted)
    path, build = _fetch()
    assert build.calls == 1
    _plain_file_with(path, build.data)


def test_a_directory_in_place_of_the_artifact_is_refused_and_the_library_kept_privately(cache_dir):
    first, _ = _fetch()
    first.unlink()
    first.mkdir()
    (first / "inside").write_text("x")  # a non-empty directory cannot be renamed over
    path, build = _fetch()
    assert build.calls == 1
    _plain_file_with(path, build.data)
    assert path.parent != first.parent and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_an_oversized_manifest_is_refused_and_rebuilt(cache_dir):
    _fetch()
    manifest = cache_dir / f"{KEY}.json"
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(record) + " " * (cache.MAX_MANIFEST_BYTES + 1))
    _, build = _fetch()
    assert build.calls == 1
    assert len(manifest.read_bytes()) < 1000


def test_an_oversized_artifact_is_refused_before_it_is_read(cache_dir, monkeypatch):
    first, _ = _fetch()
    big = b"\0" * 4096
    first.write_bytes(big)
    manifest = cache_dir / f"{KEY}.json"
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**record, "sha256": hashlib.sha256(big).hexdigest()}))  # a matching hash
    monkeypatch.setattr(cache, "MAX_ARTIFACT_BYTES", 1024)
    read = []
    real_read = os.read
    monkeypatch.setattr(cache.os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    path, build = _fetch()
    assert build.calls == 1 and path.read_bytes() == build.data
    assert sum(read) < 2048  # the big file's size was checked, not read


@needs_root
def test_an_entry_owned_by_another_user_is_refused(cache_dir):
    first, _ = _fetch()
    os.chown(first, 65534, 65534)
    path, build = _fetch()
    assert build.calls == 1 and os.stat(path).st_uid == os.getuid()


@pytest.mark.parametrize("name", ["../outside.so", "/etc/passwd", ".tmp-x.so", "sub/x.so", "x.json", 42, None])
def test_a_manifest_naming_anything_but_a_plain_cache_file_is_refused(cache_dir, name):
    first, build = _fetch()
    manifest = cache_dir / f"{KEY}.json"
    manifest.write_text(json.dumps({"key": KEY, "file": name, "sha256": hashlib.sha256(build.data).hexdigest()}))
    path, build = _fetch()
    assert build.calls == 1 and path == first


@pytest.mark.parametrize("text", ["{not json", "[]", '"x"', "null", '{"key": 1}'])
def test_a_corrupt_manifest_is_rebuilt(cache_dir, text):
    first, _ = _fetch()
    (cache_dir / f"{KEY}.json").write_text(text)
    path, build = _fetch()
    assert build.calls == 1 and path == first


@posix_only
def test_without_dir_fd_support_entries_are_still_checked_by_path(cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "_HAVE_DIR_FD", False)  # as on a platform without openat
    first, _ = _fetch()
    first.unlink()
    first.symlink_to("/dev/zero")
    path, build = _fetch()
    assert build.calls == 1
    _plain_file_with(path, build.data)
    cache_dir.chmod(0o777)
    path, build = _fetch()
    assert build.calls == 1 and path.parent != Path(os.path.realpath(cache_dir))


# -- the directory --------------------------------------------------------------------------------------


def test_a_cache_below_a_parent_others_can_write_is_never_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could rename our cache away and put theirs in its place
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(shared / "cache"))
    cache._resolve.cache_clear()
    try:
        path, build = _fetch()
        assert build.calls == 1 and not str(path).startswith(str(shared))
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert cache.cache_dir() != shared / "cache"
    finally:
        cache._resolve.cache_clear()


def test_a_cache_below_a_sticky_parent_like_tmp_is_used(tmp_path, monkeypatch):
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(sticky / "cache"))
    cache._resolve.cache_clear()
    try:
        path, _ = _fetch()
        assert path.parent == Path(os.path.realpath(sticky / "cache"))
    finally:
        cache._resolve.cache_clear()


def test_a_directory_swapped_under_a_running_process_is_refused_at_the_next_fetch(cache_dir):
    """The attack of issue 16: wait for the check, swap the directory, plant a library for the next key."""
    _fetch()
    parent = cache_dir.parent
    cache_dir.rename(parent / "moved-away")
    cache_dir.mkdir(mode=0o700)
    planted = b"planted library"
    name = f"{OTHER_KEY[:32]}-{hashlib.sha256(planted).hexdigest()[:16]}.so"
    (cache_dir / name).write_bytes(planted)
    record = {"key": OTHER_KEY, "file": name, "sha256": hashlib.sha256(planted).hexdigest()}
    (cache_dir / f"{OTHER_KEY}.json").write_text(json.dumps(record))
    parent.chmod(0o777)  # what the swap needed: a parent others can write
    try:
        path, build = _fetch(OTHER_KEY)
        assert build.calls == 1 and path.read_bytes() != planted
        assert path.parent != Path(os.path.realpath(cache_dir))
    finally:
        parent.chmod(0o700)


def test_a_cache_directory_replaced_by_a_symlink_to_a_shared_one_is_refused(cache_dir, tmp_path):
    _fetch()
    shared = tmp_path / "elsewhere"
    shared.mkdir()
    shared.chmod(0o777)
    shutil.rmtree(cache_dir)
    cache_dir.symlink_to(shared)
    path, build = _fetch()
    assert build.calls == 1 and not str(path).startswith(str(shared))


def test_a_cache_directory_made_writable_to_others_mid_run_is_refused(cache_dir):
    _fetch()
    cache_dir.chmod(0o777)
    path, build = _fetch()
    assert build.calls == 1 and path.parent != Path(os.path.realpath(cache_dir))


def test_a_deleted_cache_directory_is_made_again(cache_dir):
    _fetch()
    shutil.rmtree(cache_dir)
    path, build = _fetch()
    assert build.calls == 1 and path.parent == Path(os.path.realpath(cache_dir))


def test_a_cache_directory_deleted_during_the_build_falls_back_to_a_private_copy(cache_dir):
    class Deleting(Builder):
        def __call__(self, path: Path) -> None:
            super().__call__(path)
            shutil.rmtree(cache_dir, ignore_errors=True)

    cache_dir.mkdir(mode=0o700)
    path, build = _fetch(build=Deleting())
    _plain_file_with(path, build.data)
    assert build.calls == 2  # its directory went with the cache: built again in the private one


def _fail_inside(directory: Path, code: int, monkeypatch) -> None:
    """Make every write into ``directory`` fail with ``code`` (EROFS, ENOSPC...), as the OS would."""
    real = Path(os.path.realpath(directory))
    err = OSError(code, os.strerror(code))
    real_rename, real_open, real_mkdtemp = os.rename, os.open, tempfile.mkdtemp

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        if dst_dir_fd is not None or str(dst).startswith(str(real)):
            raise err
        return real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if flags & os.O_CREAT and (dir_fd is not None or str(path).startswith(str(real))):
            raise err
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def mkdtemp(suffix=None, prefix=None, dir=None):
        if dir is not None and str(dir).startswith(str(real)):
            raise err
        return real_mkdtemp(suffix, prefix, dir)

    monkeypatch.setattr(cache.os, "rename", rename)
    monkeypatch.setattr(cache.os, "open", open_)
    monkeypatch.setattr(cache.tempfile, "mkdtemp", mkdtemp)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_a_cache_that_cannot_be_written_falls_back_to_a_private_directory(cache_dir, monkeypatch, code):
    cache_dir.mkdir(mode=0o700)
    _fail_inside(cache_dir, code, monkeypatch)
    path, build = _fetch()
    _plain_file_with(path, build.data)
    assert path.parent != Path(os.path.realpath(cache_dir))
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_full_disk_while_writing_the_manifest_keeps_the_library_usable(cache_dir, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(cache.os, "write", full)
        path, build = _fetch()
    _plain_file_with(path, build.data)
    assert not [p for p in cache_dir.iterdir() if p.name.startswith((".tmp-", ".build-"))]
    _, again = _fetch()  # no manifest was written: built again, now recorded
    assert again.calls == 1 and (cache_dir / f"{KEY}.json").exists()


def test_a_build_that_fails_with_an_os_error_is_a_backend_error(cache_dir):
    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(BackendError, match="No space left"):
        cache.fetch_or_build(KEY, ".so", full)


def test_no_private_directory_anywhere_is_a_backend_error(cache_dir, monkeypatch):
    def refuse(path, create):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cache, "_open_trusted", refuse)
    with pytest.raises(BackendError, match="private directory"):
        cache.fetch_or_build(KEY, ".so", Builder())


# -- racing writers, real libraries -----------------------------------------------------------------------

RACER = """
import sys
from pathlib import Path
from symgrad.backends import cache
key = sys.argv[1]
print(cache.fetch_or_build(key, ".so", lambda p: Path(p).write_bytes(b"artifact " + key.encode())))
"""


def test_racing_writers_leave_one_entry_and_nothing_else(cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, KEY], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    paths = {Path(p.communicate(timeout=120)[0].strip()) for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(paths) == 1
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([paths.pop().name, f"{KEY}.json"])


SOURCE = "double sg_probe(double x) { return 2.0 * x + %d; }\n"


def _probe(path: Path) -> float:
    import ctypes

    lib = ctypes.CDLL(str(path))
    lib.sg_probe.restype = ctypes.c_double
    lib.sg_probe.argtypes = [ctypes.c_double]
    return lib.sg_probe(1.5)


@needs_cc
@posix_only
@pytest.mark.parametrize("plant", ["fifo", "dev-zero", "truncated"])
def test_a_compiled_library_replaced_by_a_hostile_entry_is_rebuilt_and_loads(cache_dir, plant):
    first = native.compile_library(SOURCE % 3, native.BASE_FLAGS)
    first.unlink()
    if plant == "fifo":
        os.mkfifo(first)
    elif plant == "dev-zero":
        first.symlink_to("/dev/zero")
    else:
        first.write_bytes(b"\x7fELF")
    rebuilt = native.compile_library(SOURCE % 3, native.BASE_FLAGS)
    assert stat.S_ISREG(os.lstat(rebuilt).st_mode)
    assert _probe(rebuilt) == 6.0


WRITER = """
import sys
from symgrad.backends import c as native
print(native.compile_library(sys.argv[1], native.BASE_FLAGS))
"""


@needs_cc
def test_racing_compilers_leave_no_orphaned_library(cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
    source = SOURCE % 11 + "/* racing */\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, source], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    paths = {Path(p.communicate(timeout=120)[0].strip()) for p in procs}
    assert all(p.returncode == 0 for p in procs)
    (library,) = paths  # the same bytes from every builder: one name
    assert [p.name for p in cache_dir.glob("*.so")] == [library.name]
    assert not [p for p in cache_dir.iterdir() if p.name.startswith((".tmp-", ".build-"))]
    assert _probe(library) == 14.0


@pytest.mark.parametrize("text", ["[" * 30000 + "]" * 30000, '{"a":' * 10000 + "1" + "}" * 10000])
def test_a_deeply_nested_manifest_is_rebuilt(cache_dir, text):
    """json.loads raises RecursionError (not ValueError) on 30,000 nested brackets, well under the 64-KB limit."""
    build = Builder()
    first = cache.fetch_or_build(KEY, ".so", build)
    (cache_dir / f"{KEY}.json").write_text(text)
    again = cache.fetch_or_build(KEY, ".so", build)
    assert build.calls == 2 and again == first and again.read_bytes() == build.data
