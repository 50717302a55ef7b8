"""The C compiler as a child process: a time limit, no orphans, and no lock held across processes' compiles.

A fake compiler (a shell script) stands in where a real one would take minutes:
it answers ``--version``, starts a grandchild (as gcc starts cc1) that records
its pid, and sleeps.  The tests then check that the whole family is gone when
symgrad gives up, and when the Python process that asked for the compile is
killed outright.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad.backends import c as native
from symgrad.errors import BackendError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("sh") is None, reason="POSIX process groups"
)


def _fake_compiler(tmp_path: Path, seconds: int) -> Path:
    script = tmp_path / "slowcc"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            if [ "$1" = "--version" ]; then echo "slowcc 1.0"; exit 0; fi
            sleep {seconds} &
            echo $! > "{tmp_path}/grandchild.pid"
            wait
            """
        )
    )
    script.chmod(0o755)
    return script


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead, only not yet reaped
        return f.read().split(")")[-1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def slow_cc(tmp_path, monkeypatch):
    cc = _fake_compiler(tmp_path, 60)
    monkeypatch.setenv("SYMGRAD_CC", str(cc))
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    native.find_compiler.cache_clear()
    native._compiler_identity.cache_clear()
    yield cc
    native.find_compiler.cache_clear()
    native._compiler_identity.cache_clear()


def test_a_compile_past_the_time_limit_is_stopped_with_its_children(slow_cc, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CC_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(BackendError, match="time limit of 1.5 s.*SYMGRAD_CC_TIMEOUT"):
        native.compile_library("int sg_probe_timeout(void) { return 1; }\n", native.BASE_FLAGS)
    assert time.monotonic() - start < 10
    pid = int((tmp_path / "grandchild.pid").read_text())
    assert _wait_gone(pid, 5), "the compiler's child outlived the timeout"


def test_a_bad_time_limit_is_a_backend_error(monkeypatch):
    monkeypatch.setenv("SYMGRAD_CC_TIMEOUT", "soon")
    with pytest.raises(BackendError, match="SYMGRAD_CC_TIMEOUT"):
        native.compiler_timeout()
    monkeypatch.setenv("SYMGRAD_CC_TIMEOUT", "-1")
    with pytest.raises(BackendError, match="positive"):
        native.compiler_timeout()


CALLER = """
import sys
from symgrad.backends import c as native
native.compile_library("int sg_probe_orphan(void) { return 2; }\\n", native.BASE_FLAGS)
"""


def test_the_compiler_does_not_outlive_a_killed_caller(slow_cc, tmp_path):
    caller = subprocess.Popen([sys.executable, "-c", CALLER], env=os.environ.copy())
    pid_file = tmp_path / "grandchild.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline and caller.poll() is None, "the compile never started"
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert _alive(grandchild)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    assert _wait_gone(grandchild, 10), "the compiler kept running after its caller was killed"


def test_a_long_compile_does_not_block_other_kernels(monkeypatch):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    real = native.compile_library
    started = threading.Event()

    def slow_for_one(source, flags, language="c"):
        if "sg_slow_marker" in source:
            started.set()
            time.sleep(3)
        return real(source, flags, language)

    monkeypatch.setattr(native, "compile_library", slow_for_one)
    x, y = sg.symbols("x y")
    slow = sg.compile(x * y + sg.sin(x), inputs=[x, y], backend="c")
    slow.kernel = type(slow.kernel)(**{**slow.kernel.__dict__, "source": slow.kernel.source + "/* sg_slow_marker */\n"})
    slow._array_fn = native.BACKEND.load(slow.kernel, 1, False)
    worker = threading.Thread(target=lambda: slow(np.ones(3), np.ones(3)))
    worker.start()
    assert started.wait(10)
    t0 = time.monotonic()
    fast = sg.compile(x + 2 * y, inputs=[x, y], backend="c")
    np.testing.assert_allclose(fast(np.ones(3), np.ones(3)), 3.0)
    waited = time.monotonic() - t0
    worker.join()
    assert waited < 2.5, f"a second kernel waited {waited:.1f} s for another kernel's compile"


def test_a_fast_math_kernel_leaves_the_process_without_flush_to_zero(tmp_path):
    """gcc < 13 links crtfastmath.o into -ffast-math libraries: loading one set FTZ/DAZ for the whole process."""
    code = (
        "import numpy as np, symgrad as sg\n"
        "f = sg.compile(lambda x: sg.sin(x) * 2, backend='c', fast_math=True)\n"
        "assert abs(f(0.5) - 2 * np.sin(0.5)) < 1e-12\n"
        "print(repr(float(np.float64(5e-324) * 1.0)), repr(float((np.array([5e-324]) * 1.0)[0])))\n"
    )
    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5e-324", "5e-324"]  # subnormals survive: no flush-to-zero
