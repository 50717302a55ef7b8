"""The benchmarks' measuring and reporting, one copy for every driver.

- timing: :func:`per_call` (median seconds per call of timeit loops, autoranged),
  :func:`fresh_timing` (median of cold builds, each from a fresh state, with an
  early stop once a time budget is spent), :func:`gpu_time` (CUDA events after a
  warm-up), :class:`Laps` (the stages of one run);
- memory: :func:`peak_rss_mib` (this process's peak resident set), and
  :func:`run_child` to measure a stage in a process of its own;
- verification: :func:`check` records a failed comparison and prints it loudly;
- reporting: :class:`Section` (one markdown table with notes), :func:`machine`,
  :func:`load_average` and :func:`report` (header + sections, printed and written).

Nothing here knows a workload; ``workloads.py`` defines those.
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# -- timing -------------------------------------------------------------------------------

MIN_LOOP_TIME = 0.2  # seconds per timeit loop; quick modes lower it with set_min_loop_time


def set_min_loop_time(seconds: float) -> None:
    global MIN_LOOP_TIME
    MIN_LOOP_TIME = seconds


def per_call(fn: Callable[[], object], repeat: int, min_time: float | None = None) -> float:
    """Median seconds per call, timeit-style: loops of ``number`` calls, ``repeat`` loops.

    ``number`` is found as timeit's autorange does (1, 2, 5, 10, 20, ...), but with a
    settable floor of ``min_time`` seconds per loop; the first loops double as warm-up.
    """
    min_time = MIN_LOOP_TIME if min_time is None else min_time
    timer = timeit.Timer(fn)
    number, scale = 1, 1
    while timer.timeit(number) < min_time:
        number = {1: 2, 2: 5, 5: 10}[number // scale] * scale
        scale *= 10 if number // scale == 10 else 1
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def fresh_timing(build: Callable[[], object], repeat: int, budget: float = math.inf) -> tuple[float, object, int]:
    """Median wall time of ``build()`` over up to ``repeat`` runs, each from a fresh state.

    Before each run: forget the previous result, collect garbage (symgrad's intern
    table is weak, so dead nodes really go), and clear symgrad's cache of compiled
    source and sympy's cache (:func:`fresh_state`).  Stops early once the runs so far
    took ``budget`` seconds (at least one run).  Returns (median seconds, last result, runs).
    """
    times: list[float] = []
    result = None
    for _ in range(repeat):
        if times and sum(times) >= budget:
            break
        result = None
        fresh_state()
        t0 = time.perf_counter()
        result = build()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result, len(times)


def fresh_state() -> None:
    """Collect garbage and clear the caches a cold build must not reuse."""
    gc.collect()
    clear_symgrad_cache()
    if "sympy" in sys.modules:
        sys.modules["sympy"].core.cache.clear_cache()


def clear_symgrad_cache() -> None:
    """Forget symgrad's compiled Python kernels (an internal cache: the one internal import)."""
    try:
        from symgrad.backends.pyload import clear_cache
    except ImportError:  # without it a rebuild may reuse compiled source; the timing says so by being fast
        return
    clear_cache()


def gpu_time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``fn()`` on the current CUDA stream: CUDA events, after one warm-up call."""
    import cupy as cp  # only the GPU driver calls this

    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return statistics.median(times)


class Laps:
    """Wall time of consecutive stages: ``lap(name)`` records the time since the previous lap (or creation).

    ``digits``: round each time to that many decimals (None: keep it exact).
    """

    def __init__(self, digits: int | None = None) -> None:
        self.times: dict[str, float] = {}
        self.digits = digits
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self._last if self.digits is None else round(now - self._last, self.digits)
        self._last = now


# -- memory -------------------------------------------------------------------------------


def peak_rss_mib() -> int | None:
    """Peak resident set size of this process so far, in MiB (None where unknown)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // (1024 * 1024) if sys.platform == "darwin" else peak // 1024  # bytes on macOS, KiB elsewhere


def run_child(script: str | Path, *args: str) -> dict:
    """Run ``python script *args`` in a fresh process; its last stdout line is a JSON object, returned.

    A stage measured this way has its own peak RSS, unaffected by what ran before it.
    """
    out = subprocess.run([sys.executable, str(script), *args], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- formatting ---------------------------------------------------------------------------


def ms(t: float) -> str:
    return f"{t * 1e3:.2f} ms"


def us(t: float) -> str:
    return f"{t * 1e6:.2f} µs"


def secs(t: float) -> str:
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1e3:.1f} ms"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


# -- verification -------------------------------------------------------------------------

FAILURES: list[str] = []


def check(ok: bool, what: str) -> str:
    """Record a verification; a failure is printed loudly at once and listed again in the report."""
    if not ok:
        FAILURES.append(what)
        print(f"\n!!!!!! VERIFICATION FAILED: {what} !!!!!!\n", file=sys.stderr, flush=True)
    return "ok" if ok else "**FAILED**"


# -- tables and the report ----------------------------------------------------------------


@dataclass
class Section:
    """One markdown table under a heading (``level`` #s), with paragraphs above it and notes below it."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intro: list[str] = field(default_factory=list)
    level: int = 3

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"{'#' * self.level} {self.title}", ""]
        for paragraph in self.intro:
            lines += [paragraph, ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def load_average() -> str:
    """The 1-minute load average, as text (``n/a`` where the system has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (OSError, AttributeError):
        return "n/a"


def cpu_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine(versions: Iterable[str]) -> str:
    """Platform, CPU, CPU count and the given ``name version`` strings, on one line."""
    return f"{platform.platform()}; {cpu_name()}; {os.cpu_count()} CPUs; python {platform.python_version()}, " + (
        ", ".join(versions)
    )


def timestamp() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def report(title: str, facts: list[str], sections: Iterable[Section], output: str | Path | None = None) -> str:
    """The markdown report: a title, ``facts`` as a list, the verification verdict, the sections.

    Printed to stdout and, when ``output`` is given, written there.
    """
    header = [f"# {title}", "", *(f"- {fact}" for fact in facts)]
    if FAILURES:
        header.append("- **VERIFICATION FAILURES:** " + "; ".join(FAILURES))
    else:
        header.append("- all result verifications passed")
    text = "\n".join(header) + "\n\n" + "\n\n".join(s.markdown() for s in sections) + "\n"
    print(text)
    if output is not None:
        Path(output).write_text(text, encoding="utf-8")
        print(f"written to {output}", file=sys.stderr)
    return text


def exit_status() -> int:
    """1 (after a loud line) when any verification failed, else 0."""
    if FAILURES:
        print(f"\n!!!!!! {len(FAILURES)} VERIFICATION FAILURE(S) — see above !!!!!!", file=sys.stderr)
        return 1
    return 0


def stage(name: str, run: Callable[[], Section]) -> Section:
    """Run one section's measurement, telling stderr when it starts and how long it took."""
    t0 = time.perf_counter()
    print(f"[{name}] running...", file=sys.stderr, flush=True)
    section = run()
    print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return section
