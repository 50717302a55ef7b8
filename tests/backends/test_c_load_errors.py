"""A library that is sound on disk but that dlopen refuses is an sg.BackendError saying why, never a raw OSError.

Two ways this happens: the cache directory is on a file system mounted noexec (dlopen: "failed to map
segment"), or $CC made something that is not a shared library for this machine ("file too short").  The
second stands in for both here: a fake compiler writes text where the library should be.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import c as native
from symgrad.backends import c_tape

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("sh") is None, reason="POSIX sh")


@pytest.fixture
def garbage_cc(tmp_path, monkeypatch):
    script = tmp_path / "garbagecc"
    script.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            if [ "$1" = "--version" ]; then echo "garbagecc 1.0"; exit 0; fi
            while [ $# -gt 0 ]; do
                if [ "$1" = "-o" ]; then echo "not a library" > "$2"; fi
                shift
            done
            exit 0
            """
        )
    )
    script.chmod(0o755)
    monkeypatch.setenv("SYMGRAD_CC", str(script))
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    native.find_compiler.cache_clear()
    native._compiler_identity.cache_clear()
    native._accepts.cache_clear()
    native._LIBS.clear()
    c_tape.clear_cache()
    yield script
    native.find_compiler.cache_clear()
    native._compiler_identity.cache_clear()
    native._accepts.cache_clear()
    native._LIBS.clear()
    c_tape.clear_cache()


@pytest.mark.parametrize("taped", [False, True])
def test_a_library_dlopen_refuses_is_a_backend_error(garbage_cc, taped, monkeypatch):
    if taped:
        monkeypatch.setenv("SYMGRAD_C_TAPE_STATEMENTS", "0")
    x = sg.symbols("x")
    f = sg.compile(sg.sin(x) * 3 + x, inputs=[x], backend="c", verify=False)
    with pytest.raises(sg.BackendError, match="could not be loaded"):
        f(np.ones(3))
