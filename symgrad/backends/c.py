"""The C backend's runtime: compile generated C with the system compiler, load it, call it.

The library is built once per (source, compiler, flags) and kept in the on-disk
cache (:mod:`symgrad.backends.cache`); it is loaded with ``ctypes`` and called on numpy
buffers without copies: each input is passed as a pointer and an element stride
(0 broadcasts one value, so a scalar argument is never expanded to the batch).
``ctypes`` releases the GIL during the call, so ``threads=k`` splits the batch
into k ranges run at once by a thread pool.

Compile time stays bounded on huge kernels: past C_PART_STATEMENTS the kernel is
cut into functions and translation units (:mod:`symgrad.codegen.csource`) that
are compiled in parallel and linked into one library, and past SIMD_STATEMENTS
(a kernel not vectorised) they are compiled with ``-O1``, past O0_STATEMENTS with
``-O0`` (gcc's time and memory at ``-O3`` grow far faster than the code's speed).  The loop over points is vectorised
(``-fopenmp-simd``, with the ISA level of this CPU and the vector math of
:mod:`symgrad.backends.vecmath`); ``-ffp-contract=off`` keeps every operation
rounded as written, so vector and scalar code agree bit for bit except in the
vector libm functions (within 2 ulp unless ``fast_math=True``).

Past C_TAPE_STATEMENTS (= SIMD_STATEMENTS; ``$SYMGRAD_C_TAPE_STATEMENTS``) nothing is generated or compiled per graph:
the kernel is the graph's instruction tape, run by one tape interpreter compiled once for every graph
(:mod:`symgrad.backends.c_tape`), with the compiled kernel's values.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..codegen.csource import SIMD_STATEMENTS, NativeKernel, generate_native
from ..codegen.kernel import check_inputs, graph_hash, slot_table
from ..codegen.render import render
from ..errors import BackendError
from . import vecmath
from .cache import cache_key, fetch_or_build
from .once import BuiltOnce, thread_pool

if TYPE_CHECKING:
    from .c_tape import TapedKernel, TapeRunner

BASE_FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared", "-fno-math-errno")  # errno is never read: lets sqrt inline
# The omp simd loops, operations rounded as written (no fused multiply-add), and no sin+cos -> sincos
# merging (sincos has no vector variant, so it would keep a loop scalar).
SIMD_FLAGS = ("-fopenmp-simd", "-ffp-contract=off", "-fno-builtin-sin", "-fno-builtin-cos")
SIMD_FLAGS += ("-fno-builtin-sinf", "-fno-builtin-cosf")
FAST_MATH = ("-ffast-math",)

_MIN_POINTS_PER_THREAD = 4096  # below this a thread costs more than it saves
BLOCK = 64  # points: thread ranges are whole blocks (a multiple of every vector length)


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


PROBE_TIMEOUT = 60.0
"""Seconds a question to the compiler (``--version``, whether it takes a flag) may take, at most ``$SYMGRAD_CC_TIMEOUT``."""


def _probe(argv: list[str]) -> tuple[int, str]:
    """Ask the compiler something, supervised as a compile is (its whole group stopped on a timeout); status, stdout."""
    limit = compiler_timeout()
    timeout = PROBE_TIMEOUT if limit is None else min(limit, PROBE_TIMEOUT)
    returncode, stdout, _ = _run_supervised(argv, timeout, f"a probe ({' '.join(argv[1:])})")
    return returncode, stdout


@functools.cache
def _compiler_identity(cc: str) -> str:
    """What the cache key records of the compiler (its path and version banner)."""
    try:
        _, stdout = _probe([cc, "--version"])
    except OSError:
        return cc
    return cc + "\n" + stdout.strip()


_LINK_TIME_FAST_MATH = frozenset({"-ffast-math", "-Ofast", "-funsafe-math-optimizations"})
"""The flags for which gcc's driver adds crtfastmath.o to a link (see :func:`compile_library`)."""


def compile_library(source: str | tuple[str, ...], flags: tuple[str, ...], language: str = "c") -> Path:
    """Build ``source`` (one text, or translation units) into a shared library, cached on disk; its path.

    Translation units are compiled to objects in parallel, one compiler per
    core, then linked.  Flags ``-l...`` go after the sources.  A build with
    fast-math flags is always compiled, then linked without them: gcc (before
    13) links ``crtfastmath.o`` into a library linked with ``-ffast-math``,
    whose constructor sets flush-to-zero for the whole process on loading, so
    numpy's own subnormals would become 0 (``5e-324 * 1.0 == 0.0``).
    """
    cc = find_compiler()
    units = (source,) if isinstance(source, str) else tuple(source)
    fast = any(f in _LINK_TIME_FAST_MATH for f in flags)
    # "linked apart": a fast-math library cached before it was linked without crtfastmath.o is not reused
    key = cache_key(*units, _compiler_identity(cc), " ".join(flags), language, *(["linked apart"] if fast else []))
    libs = [f for f in flags if f.startswith("-l")]
    options = [f for f in flags if not f.startswith("-l")]
    lang = ["-x", "c++"] if language == "c++" else []
    suffix = ".c" if language == "c" else ".cpp"

    def build(target: Path) -> None:
        if len(units) == 1 and not fast:
            src = target.with_suffix(suffix)
            src.write_text(units[0])
            try:
                _check(run_compiler([cc, *lang, *options, str(src), "-o", str(target), *libs, "-lm"]), cc)
            finally:
                src.unlink(missing_ok=True)
            return
        sources = [target.with_name(f"{target.stem}-{k}{suffix}") for k in range(len(units))]
        objects = [p.with_suffix(".o") for p in sources]
        compile_only = [f for f in options if f != "-shared"]
        try:
            for path, text in zip(sources, units):
                path.write_text(text)
            argvs = [[cc, *lang, *compile_only, "-c", str(s), "-o", str(o)] for s, o in zip(sources, objects)]
            with ThreadPoolExecutor(max_workers=max(1, min(len(argvs), os.cpu_count() or 1))) as pool:
                for result in list(pool.map(run_compiler, argvs)):
                    _check(result, cc)
            _check(run_compiler([cc, "-shared", *[str(o) for o in objects], "-o", str(target), *libs, "-lm"]), cc)
        finally:
            for path in (*sources, *objects):
                path.unlink(missing_ok=True)

    return fetch_or_build(key, ".so", build)


def load_library(path: Path) -> ctypes.CDLL:
    """Load a built library with ``ctypes``; a BackendError saying why when the system refuses it.

    dlopen fails on a library that is sound on disk when the cache sits on a file
    system mounted ``noexec`` (``failed to map segment``), or when ``$CC`` made
    something that is not a shared library for this machine (``file too short``,
    ``invalid ELF header``): a raw OSError would name neither.
    """
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        raise BackendError(
            f"the compiled library {path} could not be loaded ({exc}); if the cache directory is on a file "
            f"system mounted noexec, point $SYMGRAD_CACHE_DIR elsewhere; if $SYMGRAD_CC or $CC names a compiler "
            f"for another machine, point it at this machine's; or use backend='numpy'"
        ) from None


def _check(result: tuple[int, str], cc: str) -> None:
    returncode, stderr = result
    if returncode != 0:
        raise BackendError(f"the C compiler ({cc}) rejected symgrad's generated code:\n{stderr[-4000:]}")


@functools.cache
def _accepts(cc: str, flag: str) -> bool:
    """Whether the compiler takes ``flag`` (an -march level is newer than some compilers)."""
    try:
        returncode, _ = _probe([cc, flag, "-x", "c", "-E", os.devnull])
    except OSError:
        return False
    return returncode == 0


def kernel_flags(kernel: NativeKernel, fast_math: bool = False) -> tuple[str, ...]:
    """The compiler flags of one kernel: its optimisation level, vectorisation, ISA level and vector math."""
    cc = find_compiler()
    isa = tuple(f for f in vecmath.isa_flags() if _accepts(cc, f))
    if not kernel.simd:  # a long kernel, not vectorised; -fno-builtin-sin would make gcc's alias passes quadratic
        level = "-O0" if kernel.steps > O0_STATEMENTS else "-O1"
        return (level, *BASE_FLAGS[1:], "-ffp-contract=off", *isa, *(FAST_MATH if fast_math else ()))
    flags = BASE_FLAGS + SIMD_FLAGS + isa + (FAST_MATH if fast_math else ())
    lib = vecmath.LINK.get(vecmath.library())
    if lib and (kernel.vector_math or fast_math):
        flags += (lib,)
    if fast_math and lib != "-lmvec" and vecmath.library() != "none":
        flags += ("-lmvec",)  # -ffast-math makes glibc's headers declare libmvec's variants
    return flags


O0_STATEMENTS = 20_000
"""Past this many statements a kernel compiles at ``-O0``: measured on the 10^4-step chain gradient (1.2*10^5
statements), gcc takes 4.0 s instead of 12.8 s at ``-O1`` and the kernel runs 17% slower (the same IEEE results:
``-ffp-contract=off`` at every level); at 3,700 statements 0.29 s instead of 0.73 s, 22% slower."""

C_TAPE_STATEMENTS = SIMD_STATEMENTS
"""Past this many statements a kernel is not compiled: its instruction tape runs on the C tape interpreter
(:mod:`symgrad.backends.c_tape`), compiled once for every graph (0.5 s, then from the disk cache).
``$SYMGRAD_C_TAPE_STATEMENTS`` overrides it (a huge number forces the per-graph compile).  Past
SIMD_STATEMENTS a compiled kernel's loop is not vectorised, and the interpreter's (vectorised over a block
of points) was faster at every size measured, besides skipping gcc's seconds: 10^5 points of a
4,891-statement kernel in 771 ms against 2,046 ms at ``-O1`` (first call 1.6 s of gcc), 19,628
statements 4.6 s against 10.6 s; the 10^4-step chain gradient (1.2*10^5 statements) takes 0.5 s to its
first call instead of 4 s and a 1000-point call 170 ms instead of 420 ms at ``-O0``.  Below it, a
vectorised compiled kernel is ~3.6x faster per point than the interpreter (1,941 statements: 105 ms
against 381 ms for 10^5 points)."""
C_TAPE_ENV = "SYMGRAD_C_TAPE_STATEMENTS"


def tape_statements() -> int:
    """The statement count past which a C kernel runs on the tape interpreter: ``$SYMGRAD_C_TAPE_STATEMENTS``, else
    :data:`C_TAPE_STATEMENTS`."""
    raw = os.environ.get(C_TAPE_ENV, "")
    if not raw.strip():
        return C_TAPE_STATEMENTS
    try:
        value = int(raw)
    except ValueError:
        raise BackendError(f"${C_TAPE_ENV} must be a whole number of statements, got {raw!r}") from None
    if value < 0:
        raise BackendError(f"${C_TAPE_ENV} must not be negative, got {raw!r}")
    return value


def interpreter_flags(fast_math: bool = False) -> tuple[str, ...]:
    """The tape interpreter's flags: ``-O3`` and the kernels' numerics (rounded as written), no vector math.

    ``-fopenmp-simd`` vectorises its loops of arithmetic; a loop calling libm stays
    scalar (no variant is declared), so it calls what a kernel past SIMD_STATEMENTS calls.
    """
    cc = find_compiler()
    isa = tuple(f for f in vecmath.isa_flags() if _accepts(cc, f))
    flags = BASE_FLAGS + SIMD_FLAGS + isa
    if fast_math:
        flags += FAST_MATH
        if vecmath.library() != "none":
            flags += ("-lmvec",)  # -ffast-math makes glibc's headers declare libmvec's variants
    return flags


CC_TIMEOUT_ENV = "SYMGRAD_CC_TIMEOUT"
DEFAULT_CC_TIMEOUT = 600.0
"""Seconds the C compiler may run on one kernel before it is stopped (``$SYMGRAD_CC_TIMEOUT`` overrides)."""


def compiler_timeout() -> float | None:
    """``$SYMGRAD_CC_TIMEOUT`` in seconds (default 600); None for ``inf``, no limit."""
    raw = os.environ.get(CC_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_CC_TIMEOUT
    except ValueError:
        raise BackendError(f"${CC_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise BackendError(f"${CC_TIMEOUT_ENV} must be positive, got {raw!r}")
    return None if math.isinf(value) else value


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
    try:
        returncode, _, stderr = _run_supervised(argv, compiler_timeout())
    except OSError as exc:
        raise BackendError(f"could not start the C compiler {argv[0]!r}: {exc}") from None
    return returncode, stderr


def _run_supervised(
    argv: list[str], timeout: float | None, task: str = "a kernel of symgrad's"
) -> tuple[int, str, str]:
    """``argv`` under the supervisor, in a process group of its own; status, stdout and stderr.

    A BackendError past ``timeout`` seconds (None: no limit), naming ``task``; an OSError if it cannot start.
    """
    if sys.platform.startswith("linux"):
        argv = [sys.executable, "-I", "-S", "-c", _SUPERVISOR, str(os.getpid()), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"the C compiler ran past its time limit of {timeout:g} s on {task} and was stopped; "
            f"set ${CC_TIMEOUT_ENV} to allow longer (a probe waits at most {PROBE_TIMEOUT:g} s), or use backend='numpy'"
        ) from None
    finally:
        if proc.poll() is None:
            _stop(proc)
    return proc.returncode, stdout, stderr


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


_LIBS = BuiltOnce()  # loaded kernels by (source, flags)


def load_kernel(kernel: NativeKernel, fast_math: bool = False):
    """The ctypes function of a C kernel, built and loaded once per process.

    Compiling takes a lock of its own kernel only: another thread's kernel, or a
    call of a kernel already loaded, never waits for a long compile.
    """
    flags = kernel_flags(kernel, fast_math)

    def build():
        source = kernel.source if not kernel.units else kernel.translation_units
        fn = getattr(load_library(compile_library(source, flags)), kernel.name)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] * 3 + [ctypes.c_void_p] * bool(kernel.scratch)
        return fn

    return _LIBS.get((kernel.source, flags), build)


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
        whole = n
        if self.kernel.vector_math or self.fast_math:
            # Vector libm variants differ from libm by an ulp or two, and the compiler's scalar remainder
            # loop calls libm: so that a point's value never depends on where the batch or a thread's
            # range ends, every range is a whole number of BLOCK points and the last partial block runs
            # through the vector loop too, padded (_run_tail).
            whole = n - n % BLOCK
        parts = min(self.threads, max(1, whole // _MIN_POINTS_PER_THREAD))
        scratch = self.kernel.scratch  # a cut kernel's values across cuts: one scratch block per thread
        buffers = [np.empty(scratch, dtype=self.kernel.dtype) for _ in range(max(parts, 1))] if scratch else []
        extra = [(b.ctypes.data,) for b in buffers] or [()] * max(parts, 1)  # referenced until the calls return
        ins, strides = pointers_and_strides(columns)
        outs, out_stride = output_pointers(outputs)
        if whole < n:
            self._run_tail(fn, columns, outputs, whole, n, extra[0])
        if parts <= 1:
            if whole:
                fn(ins, strides, outs, out_stride, 0, whole, *extra[0])
            return
        bounds = [whole * p // parts // BLOCK * BLOCK for p in range(parts)] + [whole]
        futures = [
            thread_pool("symgrad-c").submit(fn, ins, strides, outs, out_stride, lo, hi, *extra[p])
            for p, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]
        for f in futures:
            f.result()

    def _run_tail(self, fn, columns: list[np.ndarray], outputs: list[np.ndarray], lo: int, n: int, extra) -> None:
        """Points [lo, n) (fewer than BLOCK) through the vector loop: copied into a block padded with the last point."""
        dtype = np.dtype(self.kernel.dtype)
        idx = np.minimum(np.arange(lo, lo + BLOCK), n - 1)
        cols = [c if c.ndim == 0 else np.ascontiguousarray(c[idx], dtype=dtype) for c in columns]
        block = np.empty((len(outputs), BLOCK), dtype=dtype)
        ins, strides = pointers_and_strides(cols)
        outs, out_stride = output_pointers(list(block))
        fn(ins, strides, outs, out_stride, 0, BLOCK, *extra)
        for o, row in zip(outputs, block):
            o[lo:n] = row[: n - lo]

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
            lib = load_library(compile_library(source, flags, "c++"))
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

    def generate(self, inputs, slots, dtype: str, results_format: str | None = None) -> NativeKernel | TapedKernel:
        """The C kernel, or past ``tape_statements()`` steps the graph's tape for the interpreter (not compiled).

        ``slots``: the output slots' :class:`~symgrad.codegen.kernel.SlotTable`, or their nodes.
        """
        from . import c_tape  # imported here: it imports this module

        table = slot_table(slots)
        unique = list(table.computed)
        sched = table.schedule
        threshold = tape_statements()
        if len(sched.steps) <= threshold:
            return generate_native(inputs, table, dtype, "c", vecmath.functions(dtype))
        check_inputs(sched, inputs)
        return c_tape.generate_tape_kernel(sched, inputs, table, unique, dtype, threshold, graph_hash(inputs, table))

    def from_tape(self, tape, table, dtype: str, results_format: str | None, gh: str) -> TapedKernel:
        """The taped kernel running ``tape`` (reverse mode's, :mod:`symgrad.codegen.adjoint`) on the interpreter."""
        from ..codegen.adjoint import listing
        from . import c_tape

        note = "symgrad's C tape interpreter (symgrad.backends.c_tape)"
        return c_tape.from_tape(tape, list(table.computed), dtype, gh, lambda: listing(tape, note))

    def load(
        self, kernel: NativeKernel | TapedKernel, threads: int = 1, fast_math: bool = False
    ) -> CKernel | TapeRunner:
        """A callable running ``kernel``: the compiled C, or the tape on the interpreter."""
        from . import c_tape

        if isinstance(kernel, c_tape.TapedKernel):
            return c_tape.TapeRunner(kernel, int(threads), bool(fast_math))
        return CKernel(kernel, int(threads), bool(fast_math))

    def array_module(self):
        return np

    def clear_cache(self) -> None:
        from . import c_tape

        _LIBS.clear()
        c_tape.clear_cache()


BACKEND = CBackend()
