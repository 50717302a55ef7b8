"""A work budget for one job: how many nodes it may build and how many seconds it may run.

Why: a short formula can ask for an astronomically large job (a product of 20,000
factors differentiated, a Hessian of 3,000 variables, a 30th derivative written out
as a tree), and a command line or a service that takes formulas from others must fail fast, with an
error naming the limit, instead of hanging or exhausting memory.  The ``symgrad``
command runs every job inside :func:`budget`; library users may do the same::

    with sg.budget(max_nodes=10**6, seconds=5):
        g = sg.grad(f)

How it is enforced:

- nodes: the interning constructor (:func:`symgrad.ir.node.make`) calls a hook when
  it creates a node, each counted with its operands (an n-ary sum of 20,000 terms
  costs 20,001).  With no budget active the hook is ``None``: the library's speed
  is unchanged, and the hook is per thread (a context variable), so a budget in one
  thread does not count another's nodes;
- seconds: checked on node creation (every 256 nodes) and by loops that may run
  long without creating nodes (:func:`checkpoint`); with ``interrupt=True`` (the
  command line does this) a ``SIGALRM`` timer also stops code that never checks,
  such as sympy's ``simplify``.  Timers exist only in the main thread on POSIX;
  elsewhere the cooperative checks alone apply.  Optional work (sympy's ``simplify``
  of a printed formula) runs in a :func:`time_slice` of CPU time and is skipped when
  that runs out.

Going past a limit raises :class:`~symgrad.errors.LimitError` when the ``with``
block is left.  Inside the block it travels as a ``BaseException``, so that no
``except Exception`` on the way (in symgrad, sympy or the traced function) can
swallow it.
"""

from __future__ import annotations

import contextvars
import gc
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import InputError, LimitError
from .ir import node as _node

__all__ = [
    "DEFAULT_MAX_NODES",
    "DEFAULT_SECONDS",
    "MAX_NODES_ENV",
    "TIME_LIMIT_ENV",
    "Budget",
    "TimeSliceExpired",
    "budget",
    "charge",
    "checkpoint",
    "current",
    "gc_paused",
    "limits_from_env",
    "time_slice",
]

DEFAULT_MAX_NODES = 500_000
"""Nodes a job may build by default, each counted with its operands: at most about 3 s and 200 MB of building,
and far more than any formula a person reads (every example in the README builds under 2,000)."""
DEFAULT_SECONDS = 10.0
"""Seconds a job may run by default."""
MAX_NODES_ENV, TIME_LIMIT_ENV = "SYMGRAD_MAX_NODES", "SYMGRAD_TIME_LIMIT"
"""The environment variables that override the defaults."""
_TIME_CHECK_EVERY = 256  # node creations between two clock reads (a clock read costs about a node's hashing)
_GC_LOCK = threading.Lock()
_GC_PAUSES = [0, False]  # how many gc_paused blocks are open, and whether the collector was on before the first


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while symgrad builds (differentiation, code generation).

    Why: those passes allocate millions of nodes and tuples and free none of
    them in cycles (operands point only downwards, the intern table is weak),
    yet each full collection walks every live object: a quarter of the time of
    a 10^5-step gradient.  Nested and concurrent blocks share one pause; the
    collector is switched back on, if it was on, when the last one ends.
    """
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            _GC_PAUSES[1] = gc.isenabled()
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0 and _GC_PAUSES[1]:
                gc.enable()


class _Exceeded(BaseException):
    """A limit was hit; carries the budget (or time slice) it belongs to, converted when that is left."""

    def __init__(self, owner: object, error: LimitError | None = None) -> None:
        super().__init__()
        self.owner = owner
        self.error = error


class Budget:
    """The counters of one job: nodes built so far and the deadline."""

    def __init__(self, max_nodes: int, seconds: float, hint: str = "") -> None:
        self.max_nodes = max_nodes
        self.seconds = seconds
        self.hint = hint
        self.nodes = 0
        self.ticks = 0  # node creations since the clock was last read
        self.start = time.monotonic()
        self.deadline = self.start + seconds

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def charge(self, units: int, what: str = "") -> None:
        """Count ``units`` nodes (or entries, described by ``what``) against the limit."""
        self.nodes += units
        if self.nodes > self.max_nodes:
            raise _Exceeded(self, self._error("max_nodes", what))

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Exceeded(self, self._error("seconds"))

    def _error(self, limit: str, what: str = "") -> LimitError:
        if limit == "max_nodes":
            what = what or "nodes (each counted with its operands)"
            message = f"the job needs more than max_nodes={self.max_nodes:,} {what}"
            value: float = self.max_nodes
        else:
            message = f"the job ran for more than its time limit of {self.seconds:g} seconds"
            value = self.seconds
        return LimitError(message + (f"; {self.hint}" if self.hint else ""), limit, value)


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("symgrad_budget", default=None)
_ACTIVE = 0  # budgets entered in any thread: the hook is installed while this is positive
_ACTIVE_LOCK = threading.Lock()


def _on_node(args: tuple) -> None:
    """The hook :func:`symgrad.ir.node.make` calls before creating a node."""
    b = _CURRENT.get()
    if b is None:
        return
    b.nodes += 1 + len(args)
    if b.nodes > b.max_nodes:
        raise _Exceeded(b, b._error("max_nodes"))
    b.ticks += 1
    if b.ticks >= _TIME_CHECK_EVERY or len(args) > _TIME_CHECK_EVERY:
        b.ticks = 0
        b.check_time()


def _set_hook(delta: int) -> None:
    global _ACTIVE
    with _ACTIVE_LOCK:
        _ACTIVE += delta
        _node.set_creation_hook(_on_node if _ACTIVE else None)


def current() -> Budget | None:
    """The budget of the running job in this thread, if any."""
    return _CURRENT.get()


def charge(units: int, what: str = "") -> None:
    """Count ``units`` against the running budget (for work that is not nodes: ``what`` says, "printed terms")."""
    b = _CURRENT.get()
    if b is not None:
        b.charge(units, what)


def checkpoint() -> None:
    """Stop here if the running budget's time is up (for loops that run long without creating nodes)."""
    b = _CURRENT.get()
    if b is not None:
        b.check_time()


def limits_from_env(max_nodes: int | None = None, seconds: float | None = None) -> tuple[int, float]:
    """The limits to use: the arguments, else ``$SYMGRAD_MAX_NODES`` / ``$SYMGRAD_TIME_LIMIT``, else the defaults."""
    if max_nodes is None:
        max_nodes = _env_number(MAX_NODES_ENV, DEFAULT_MAX_NODES, int)
    if seconds is None:
        seconds = _env_number(TIME_LIMIT_ENV, DEFAULT_SECONDS, float)
    return validate_limits(max_nodes, seconds)


def _env_number(name: str, default, kind):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < math.inf:
        raise InputError(f"${name} must be a positive number, got {text!r}")
    return value


def validate_limits(max_nodes, seconds) -> tuple[int, float]:
    """``(max_nodes, seconds)`` checked: a positive int and a positive finite number."""
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise InputError(f"max_nodes must be a positive int, got {max_nodes!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        raise InputError(f"seconds must be a positive number, got {seconds!r}")
    return max_nodes, float(seconds)


@contextmanager
def budget(
    max_nodes: int | None = None, seconds: float | None = None, *, interrupt: bool = False, hint: str = ""
) -> Iterator[Budget]:
    """Run the block under a work budget; past a limit, :class:`~symgrad.errors.LimitError` naming it.

    Unset limits come from ``$SYMGRAD_MAX_NODES`` and ``$SYMGRAD_TIME_LIMIT``, else
    :data:`DEFAULT_MAX_NODES` and :data:`DEFAULT_SECONDS`.  ``interrupt=True`` also
    arms a timer that stops code which never checks the clock (main thread, POSIX).
    ``hint`` is appended to the error (how the caller lets a user raise the limit).
    A budget inside another replaces it for the inner block.
    """
    max_nodes, seconds = limits_from_env(max_nodes, seconds)
    b = Budget(max_nodes, seconds, hint)
    token = _CURRENT.set(b)
    _set_hook(+1)
    try:
        with _alarm(b.deadline, b, b._error("seconds")) if interrupt else _nothing():
            yield b
    except _Exceeded as exc:
        if exc.owner is not b:
            raise
        raise exc.error from None
    finally:
        _set_hook(-1)
        _CURRENT.reset(token)


class TimeSliceExpired(Exception):
    """A :func:`time_slice` ran out (the caller goes on without the result)."""


@contextmanager
def time_slice(cpu_seconds: float) -> Iterator[None]:
    """Interrupt the block once it has used ``cpu_seconds`` of CPU time, with :class:`TimeSliceExpired`.

    For optional work that may take very long and checks no clock, like sympy's
    ``simplify``: the caller catches the exception and goes on without it.  CPU time,
    not wall time, so that what gets done does not depend on how loaded the machine
    is; the running budget's deadline still applies (as a :class:`LimitError`).  The
    timer (``ITIMER_VIRTUAL``) needs the main thread on POSIX; elsewhere the block
    runs uninterrupted.
    """
    if cpu_seconds <= 0:
        raise TimeSliceExpired
    if not _timers_available():
        yield
        return
    owner = object()

    def expired(signum, frame) -> None:
        raise _Exceeded(owner)

    previous = signal.signal(signal.SIGVTALRM, expired)
    outer = signal.setitimer(signal.ITIMER_VIRTUAL, cpu_seconds)
    try:
        yield
    except _Exceeded as exc:
        if exc.owner is not owner:
            raise
        raise TimeSliceExpired from None
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous if previous is not None else signal.SIG_DFL)
        if outer[0] > 0:  # a slice around this one goes on with what it had left
            signal.setitimer(signal.ITIMER_VIRTUAL, *outer)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# -- SIGALRM timers: a stack of deadlines, the nearest one armed ----------------------------------------

_TIMERS: list[tuple[float, object, LimitError | None]] = []


def _timers_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _arm() -> None:
    if _TIMERS:
        delay = min(t[0] for t in _TIMERS) - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-3))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum, frame) -> None:
    now = time.monotonic()
    due = [t for t in _TIMERS if t[0] <= now + 1e-3]
    if not due:
        _arm()
        return
    _, owner, error = min(due, key=lambda t: t[0])
    raise _Exceeded(owner, error)


@contextmanager
def _alarm(deadline: float, owner: object, error: LimitError | None) -> Iterator[None]:
    if not _timers_available():
        yield
        return
    first = not _TIMERS
    previous = signal.signal(signal.SIGALRM, _on_alarm) if first else None
    _TIMERS.append((deadline, owner, error))
    try:
        _arm()
        yield
    finally:
        _TIMERS.pop()
        if first:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        else:
            _arm()
