"""The C backend's runtime: compile generated C with the system compiler, load it, call it.

The library is built once per (source, compiler, flags) and kept in the on-disk
cache (:mod:`symgrad.backends.cache`); it is loaded with ``ctypes`` and called on numpy
buffers without copies: each input is passed as a pointer and an element stride
(0 broadcasts one value, so a scalar argument is never expanded to the batch).
``ctypes`` releases the GIL during the call, so ``threads=k`` splits the batch
into k ranges run at once by a thread pool.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..codegen.csource import NativeKernel, generate_native
from ..codegen.render import render
from ..errors import BackendError
from .cache import cache_key, fetch_or_build

BASE_FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared", "-fno-math-errno")  # errno is never read: lets sqrt inline
FAST_MATH = ("-ffast-math",)
_MIN_POINTS_PER_THREAD = 4096  # below this a thread costs more than it saves


@functools.cache
def find_compiler() -> str:
    """The C compiler to use: ``$SYMGRAD_CC`` or ``$CC``, else cc, gcc or clang on PATH."""
    for name in (os.environ.get("SYMGRAD_CC"), os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise BackendError(
        "backend='c' needs a C compiler (cc, gcc or clang) on PATH, and none was found; "
        "install one (e.g. apt install gcc), point $CC at one, or use backend='numpy'"
    )


@functools.cache
def _compiler_identity(cc: str) -> str:
    """What the cache key records of the compiler (its path and version banner)."""
    try:
        res = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60, check=False)
        return cc + "\n" + res.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return cc


def compile_library(source: str, flags: tuple[str, ...], language: str = "c") -> Path:
    """Build ``source`` into a shared library (cached on disk) and return its path."""
    cc = find_compiler()
    key = cache_key(source, _compiler_identity(cc), " ".join(flags), language)

    def build(target: Path) -> None:
        src = target.with_suffix(".c" if language == "c" else ".cpp")
        src.write_text(source)
        try:
            lang = ["-x", "c++"] if language == "c++" else []
            returncode, stderr = run_compiler([cc, *lang, *flags, str(src), "-o", str(target), "-lm"])
        finally:
            src.unlink(missing_ok=True)
        if returncode != 0:
            raise BackendError(f"the C compiler ({cc}) rejected symgrad's generated code:\n{stderr[-4000:]}")

    return fetch_or_build(key, ".so", build)


CC_TIMEOUT_ENV = "SYMGRAD_CC_TIMEOUT"
DEFAULT_CC_TIMEOUT = 600.0
"""Seconds the C compiler may run on one kernel before it is stopped (``$SYMGRAD_CC_TIMEOUT`` overrides)."""


def compiler_timeout() -> float:
    raw = os.environ.get(CC_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_CC_TIMEOUT
    except ValueError:
        raise BackendError(f"${CC_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise BackendError(f"${CC_TIMEOUT_ENV} must be positive, got {raw!r}")
    return value


# The compiler runs under a small supervisor process: the kernel of Linux sends the supervisor
# SIGTERM the moment the Python process that started it dies (even of SIGKILL), and the
# supervisor then kills the compiler's whole process group (the driver, cc1, as).  Without it a
# compile outlives a killed caller, keeping a core and gigabytes busy for as long as it takes.
_SUPERVISOR = """
import ctypes, os, signal, subprocess, sys
try:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(70)  # the caller is already gone
child = subprocess.Popen(sys.argv[2:], start_new_session=True)
def stop(*_):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os._exit(71)
signal.signal(signal.SIGTERM, stop)
sys.exit(child.wait())
"""


def run_compiler(argv: list[str]) -> tuple[int, str]:
    """Run the compiler within the time limit; neither a timeout nor our own death leaves it running.

    Returns the exit status and the compiler's error output.  On every way out of
    this function (a timeout, KeyboardInterrupt, an exception) the supervisor is
    stopped, and it takes the compiler's whole process group with it.
    """
    timeout = compiler_timeout()
    if sys.platform.startswith("linux"):
        argv = [sys.executable, "-I", "-S", "-c", _SUPERVISOR, str(os.getpid()), *argv]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    except OSError as exc:
        raise BackendError(f"could not start the C compiler {argv[0]!r}: {exc}") from None
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"the C compiler ran past its time limit of {timeout:g} s on a kernel of symgrad's and was stopped; "
            f"set ${CC_TIMEOUT_ENV} to allow longer, or use backend='numpy'"
        ) from None
    finally:
        if proc.poll() is None:
            _stop(proc)
    return proc.returncode, stderr


def _stop(proc: subprocess.Popen) -> None:
    """Stop the supervisor (which kills the compiler's group), then its own group, and reap it."""
    try:
        proc.terminate()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


_LIBS: dict[tuple, object] = {}
_LOCK = threading.Lock()  # guards _LIBS, _PENDING and _POOL; never held while compiling
_PENDING: dict[tuple, threading.Lock] = {}  # one lock per kernel being compiled
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="symgrad-c")
        return _POOL


def load_kernel(kernel: NativeKernel, fast_math: bool = False):
    """The ctypes function of a C kernel, built and loaded once per process.

    Compiling takes a lock of its own kernel only: another thread's kernel, or a
    call of a kernel already loaded, never waits for a long compile.
    """
    flags = BASE_FLAGS + (FAST_MATH if fast_math else ())
    key = (kernel.source, flags)
    fn = _LIBS.get(key)
    if fn is not None:
        return fn
    with _LOCK:
        pending = _PENDING.setdefault(key, threading.Lock())
    with pending:
        fn = _LIBS.get(key)
        if fn is None:
            lib = ctypes.CDLL(str(compile_library(kernel.source, flags)))
            fn = getattr(lib, kernel.name)
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] * 3
            with _LOCK:
                _LIBS[key] = fn
    with _LOCK:
        _PENDING.pop(key, None)
    return fn


def pointers_and_strides(columns: list[np.ndarray]):
    """ctypes arrays of the input pointers and element strides (0 for a broadcast scalar)."""
    ptrs = (ctypes.c_void_p * max(len(columns), 1))()
    strides = (ctypes.c_longlong * max(len(columns), 1))()
    for k, col in enumerate(columns):
        ptrs[k] = col.ctypes.data
        strides[k] = 0 if col.ndim == 0 else col.strides[0] // col.itemsize
    return ptrs, strides


def output_pointers(outputs: list[np.ndarray]):
    """ctypes array of the output rows' pointers, and their common element stride."""
    outs = (ctypes.c_void_p * max(len(outputs), 1))(*(o.ctypes.data for o in outputs))
    stride = outputs[0].strides[0] // outputs[0].itemsize if outputs and outputs[0].size > 1 else 1
    return outs, stride


class CKernel:
    """Calls a loaded C kernel as ``kernel(columns, outputs, n)``, like the numpy kernels."""

    def __init__(self, kernel: NativeKernel, threads: int = 1, fast_math: bool = False) -> None:
        self.kernel = kernel
        self.threads = threads
        self.fast_math = fast_math
        self._fn = None

    def __call__(self, columns: list[np.ndarray], outputs: list[np.ndarray], n: int) -> None:
        fn = self._fn or self._load()
        ins, strides = pointers_and_strides(columns)
        outs, out_stride = output_pointers(outputs)
        parts = min(self.threads, max(1, n // _MIN_POINTS_PER_THREAD))
        if parts <= 1:
            fn(ins, strides, outs, out_stride, 0, n)
            return
        bounds = [n * p // parts for p in range(parts + 1)]
        futures = [_pool().submit(fn, ins, strides, outs, out_stride, lo, hi) for lo, hi in itertools.pairwise(bounds)]
        for f in futures:
            f.result()

    def _load(self):
        self._fn = load_kernel(self.kernel, self.fast_math)
        return self._fn


class EmulatedCudaKernel:
    """A CUDA kernel's own source run on the CPU (see ``templates/cuda/emulation.cpp.j2``).

    This is how the CUDA code path is tested without a GPU: the generated CUDA C,
    unchanged, is compiled as C++ with stand-ins for the launch built-ins and run
    over a small grid (``grid`` blocks of ``block`` threads), so every point is
    reached through the grid-stride loop.
    """

    def __init__(self, kernel: NativeKernel, grid: int = 3, block: int = 5) -> None:
        if kernel.frame != "cuda":
            raise BackendError("EmulatedCudaKernel runs CUDA kernels; this one was generated for " + kernel.frame)
        self.kernel = kernel
        self.grid = grid
        self.block = block
        self._fn = None

    def __call__(self, columns: list[np.ndarray], outputs: list[np.ndarray], n: int) -> None:
        if self._fn is None:
            source = render("cuda/emulation.cpp.j2", kernel_source=self.kernel.source, name=self.kernel.name)
            flags = tuple(f for f in BASE_FLAGS if not f.startswith("-std=")) + ("-std=c++14",)
            lib = ctypes.CDLL(str(compile_library(source, flags, "c++")))
            self._fn = lib.sg_launch
            self._fn.restype = None
            self._fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] * 2 + [ctypes.c_uint] * 2
        ins, strides = pointers_and_strides(columns)
        outs, out_stride = output_pointers(outputs)
        self._fn(ins, strides, outs, out_stride, n, self.grid, self.block)


class CBackend:
    """C compiled with the system compiler, loaded with ctypes; the batch split over ``threads``."""

    name = "c"
    scalar_path = False
    plain_floats = True

    def check_available(self) -> None:
        find_compiler()

    def generate(self, inputs, slots, dtype: str, results_format: str | None = None) -> NativeKernel:
        return generate_native(inputs, slots, dtype, "c")

    def load(self, kernel: NativeKernel, threads: int = 1, fast_math: bool = False) -> CKernel:
        return CKernel(kernel, int(threads), bool(fast_math))

    def array_module(self):
        return np

    def clear_cache(self) -> None:
        with _LOCK:
            _LIBS.clear()


BACKEND = CBackend()
