"""Running an instruction tape (:mod:`symgrad.codegen.tape`) over a batch, chunk by chunk.

Each chunk binds the input and output views and the constants into one list of
slots (the register file's buffers are allocated once per call and reused by
every chunk), then makes one numpy call per instruction.  No source is printed
or compiled, so a kernel of 10^6 statements is ready as soon as its tape is
built; a call costs what the printed kernel's lines would (one ufunc call per
instruction per chunk), plus a little dispatch.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from ..codegen.kernel import CHUNK, chunk_size
from ..codegen.tape import Tape, float_functions_source, functions, straight_line_source
from .pyload import load_python

TAPE_BYTES = 256 << 20
"""At most this many bytes of registers per call: a tape with many live values runs in smaller chunks."""


def tape_chunk(n_registers: int, itemsize: int) -> int:
    """Points per chunk: the printed kernel's chunk, smaller while the registers would pass TAPE_BYTES."""
    chunk = chunk_size(n_registers)
    while chunk > 1 and chunk * n_registers * itemsize > TAPE_BYTES:
        chunk //= 2
    return min(chunk, CHUNK)


_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Tape -> its program, shared by both paths
_LOCK = threading.Lock()


def program(tape: Tape) -> tuple[list, list, list, list, list]:
    """The tape as plain lists (function, operand slots, destination), built once per tape.

    Lists of ints and of the few shared function objects: no object per
    instruction for the garbage collector to walk (a tuple or getter per
    instruction made building a 10^6-instruction program GC-bound).
    """
    found = _PROGRAMS.get(tape)
    if found is None:
        fns = functions()
        found = ([fns[c] for c in tape.code.tolist()], *tape.args.T.tolist(), tape.dest.tolist())
        with _LOCK:
            found = _PROGRAMS.setdefault(tape, found)
    return found


class TapeKernel:
    """Calls a tape as ``kernel(columns, outputs, n)``, like the compiled numpy kernels."""

    def __init__(self, tape: Tape, dtype: str) -> None:
        self.tape = tape
        self.dtype = np.dtype(dtype)
        self.chunk = tape_chunk(tape.n_registers, self.dtype.itemsize)

    def __call__(self, columns: list, outputs: list, n: int) -> None:
        t = self.tape
        fns, a0, a1, a2, dest = program(t)
        chunk = self.chunk
        slots: list = [None] * (t.n_inputs + t.n_outputs)
        slots += t.constants  # Python floats, as the printed kernel's literals: float32 stays float32
        slots += [np.empty(min(n, chunk), dtype=self.dtype) for _ in range(t.n_registers)]
        first_out = t.n_inputs
        for start in range(0, n, chunk):
            start = min(start, max(n - chunk, 0))  # every chunk is whole: the last one overlaps the one before
            stop = min(start + chunk, n)
            for k, x in enumerate(columns):
                slots[k] = x if x.ndim == 0 else x[start:stop]
            for k, o in enumerate(outputs):
                slots[first_out + k] = o[start:stop]
            _run(slots, fns, a0, a1, a2, dest)


def _run(r: list, fns: list, a0: list, a1: list, a2: list, dest: list) -> None:
    """One pass of the program over the slots ``r``: ``fn(*operands, out=...)`` per instruction."""
    for fn, a, b, c, d in zip(fns, a0, a1, a2, dest):
        if b < 0:
            fn(r[a], out=r[d])
        elif c < 0:
            fn(r[a], r[b], out=r[d])
        else:
            fn(r[a], r[b], r[c], out=r[d])


def float_program(tape: Tape) -> tuple[list, list, list, list, list]:
    """The tape's program with each opcode's function on plain Python floats (:func:`float_functions_source`)."""
    found = _FLOAT_PROGRAMS.get(tape)
    if found is None:
        fns = load_python(float_functions_source(), "FUNCTIONS")
        _, a0, a1, a2, dest = program(tape)
        found = ([fns[c] for c in tape.code.tolist()], a0, a1, a2, dest)
        with _LOCK:
            found = _FLOAT_PROGRAMS.setdefault(tape, found)
    return found


_FLOAT_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


TIER_CALLS = 16
"""Float calls a taped kernel makes on the tape's per-opcode functions before it compiles them as straight-line code."""
STRAIGHT_LINE_INSTRUCTIONS = 40_000
"""Tape instructions up to which the scalar path tiers up to straight-line float code (a few times faster a call,
the same bits; compiled once, ~5 µs and ~2.5 KB of compiler memory an instruction, ~100 MB at the limit); past it
every call stays on the tape."""


class TapeScalar:
    """The scalar path of a taped kernel: one point through the tape, arranged by the generated ``results``.

    The point goes through the tape as plain Python floats (a float64 kernel's:
    a float32 kernel has no scalar path), with the scalar path's own rules: a
    math domain error, an overflow or a non-finite result raises ArithmeticError
    / ValueError, and the caller then computes the point with the numpy tape
    (numpy's values and warnings).

    Tiered: the first TIER_CALLS calls run the tape's per-opcode functions
    (nothing to compile: a first call costs the tape's dispatch, not CPython's
    compiler), later ones the tape printed as one straight-line function
    (:func:`~symgrad.codegen.tape.straight_line_source`; a few times faster a
    call), when it has at most STRAIGHT_LINE_INSTRUCTIONS instructions.  Both compute
    the same operations in the same order: a point gets the same bits either way.
    """

    def __init__(self, kernel: TapeKernel, results) -> None:
        self.kernel = kernel
        self.results = results
        self.calls = 0
        # the compiled straight-line function once tiered up; False: stays on the tape (too long, or an opcode
        # without a float spelling)
        self.straight = None if len(kernel.tape) <= STRAIGHT_LINE_INSTRUCTIONS else False

    def __call__(self, *xs: float):
        t = self.kernel.tape
        if self.straight is None:
            self.calls += 1
            if self.calls > TIER_CALLS:
                self.straight = _straight_line(t) or False  # False: an opcode without a float spelling
        values = self.straight(*xs) if self.straight else self._on_tape(t, xs)
        total = sum(values)
        if total - total != 0.0:  # an inf or nan among the results: numpy computes them, with its warnings
            raise ArithmeticError("non-finite result")
        return self.results(values)

    @staticmethod
    def _on_tape(t: Tape, xs) -> list[float]:
        fns, a0, a1, a2, dest = float_program(t)
        r = [*xs, *[0.0] * t.n_outputs, *t.constants, *[0.0] * t.n_registers]
        for fn, a, b, c, d in zip(fns, a0, a1, a2, dest):
            r[d] = fn(r[a], r[b], r[c])  # a -1 (an unused operand) reads the last slot, ignored
        return r[t.n_inputs : t.n_inputs + t.n_outputs]


def _straight_line(tape: Tape):
    """The tape's straight-line float function, compiled once per source (None: it has no float form)."""
    source = straight_line_source(tape, "straight")
    return None if source is None else load_python(source, "straight")
