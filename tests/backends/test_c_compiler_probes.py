"""The compiler's probes (``--version``, whether it takes ``-march=...``) run under $SYMGRAD_CC_TIMEOUT and the
supervisor, as a compile does.

They ran with a fixed 60-s limit of their own, outside the supervisor: a compiler that hangs (a wrapper waiting
on a lock or a licence server) made a compile with ``SYMGRAD_CC_TIMEOUT=2`` take 122 s before its error, and
every probe's children outlived the timeout (and the Python process).  ``SYMGRAD_CC_TIMEOUT=inf`` (no limit)
was an OverflowError from ``subprocess``.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import c as native
from symgrad.backends import c_tape

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("sh") is None, reason="POSIX sh")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _clear():
    native.find_compiler.cache_clear()
    native._compiler_identity.cache_clear()
    native._accepts.cache_clear()
    native._LIBS.clear()
    c_tape.clear_cache()


@pytest.fixture
def hanging_cc(tmp_path, monkeypatch):
    """A compiler that hangs on every question, --version included, through a child (as gcc runs cc1)."""
    script = tmp_path / "hangcc"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            sleep 120 &
            echo $! >> "{tmp_path}/children"
            wait
            """
        )
    )
    script.chmod(0o755)
    monkeypatch.setenv("SYMGRAD_CC", str(script))
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    _clear()
    yield tmp_path / "children"
    _clear()


def test_a_hanging_compiler_is_stopped_within_the_time_limit(hanging_cc, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CC_TIMEOUT", "1.5")
    x = sg.symbols("x")
    f = sg.compile(sg.sin(x) + x, inputs=[x], backend="c", verify=False)
    start = time.monotonic()
    with pytest.raises(sg.BackendError, match="time limit of 1.5 s"):
        f(np.ones(3))
    assert time.monotonic() - start < 15
    children = [int(p) for p in hanging_cc.read_text().split()]
    assert children
    deadline = time.monotonic() + 5
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, children)), "a probe's child outlived the time limit"


def test_an_infinite_time_limit_means_no_limit(monkeypatch, tmp_path):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMGRAD_CC_TIMEOUT", "inf")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    _clear()
    try:
        assert native.compiler_timeout() is None
        x = sg.symbols("x")
        f = sg.compile(sg.cos(x) * 7 + x, inputs=[x], backend="c")
        np.testing.assert_allclose(f(np.ones(2)), np.cos(1.0) * 7 + 1)
    finally:
        _clear()
