"""Huge C kernels without a per-graph compile: the graph's instruction tape run by one compiled interpreter.

Compiling a kernel of 10^5 statements costs gcc tens of seconds even at ``-O0``,
far more than the kernel ever runs for most callers.  Past
:data:`symgrad.backends.c.C_TAPE_STATEMENTS` steps the C backend therefore builds
the graph's :class:`~symgrad.codegen.tape.Tape` (the numpy backend's
:func:`~symgrad.codegen.tape.build_tape`, as is) and runs it with a tape
interpreter: a C source rendered once from ``templates/c/tape_vm.c.j2``,
compiled once per (source, compiler, flags), kept in the on-disk cache like any
kernel and shared by every graph.  Its entry point takes the tape's arrays, the
constants, the input pointers and strides, the output pointers and a range of
points; it runs the tape over blocks of :data:`BLOCK` points (one ``switch``
dispatch per instruction per block, the loop over the block's points under
``omp simd``), so the dispatch cost is spread over the block.

The opcodes' C expressions are the C printer's own spellings, never a second
table of math: every op of the table is spelled by its ``cuda`` field through
:func:`symgrad.codegen.printer.c_backend` (``f`` literals in float32), with its
helpers from :func:`symgrad.ir.ops.c_helpers`; ``sqrt`` and ``power`` are the
printer's ``sqrt``/``pow``; add, subtract, multiply, divide and copy are the C
operators the printer joins sums and products with (its n-ary sums are chains in
the same left-to-right order the tape applies).  The library is compiled with
the kernels' numeric flags (``-ffp-contract=off``, ``-fno-math-errno``, no
``-ffast-math`` unless the kernel asks for it) and declares no vector math, so
each instruction is rounded as written and every libm call is the scalar one a
kernel past ``SIMD_STATEMENTS`` makes.

Where the tape lowers an op as the C printer does, the interpreter's values are
bit for bit those of the compiled kernel.  The lowerings differ in constant
powers, where the tape follows the numpy printer (``x**4`` as ``(x*x)*(x*x)``,
``x**1.5`` as ``sqrt(x)*x``, ``x**5`` as ``pow``) and the C printer spells
``x*x*x*x``, ``pow(x, 1.5)``, ``x*x*x*x*x``: those differ by up to 5 ulp, so
:func:`c_program` rewrites them into opcodes of their own whose expressions are
the C printer's (:func:`symgrad.codegen.printer.expr_pow`), and they agree bit
for bit too.  What may still differ, within 2 ulp:

- a kernel at most ``SIMD_STATEMENTS`` long is vectorised with vector math
  (SLEEF, libmvec) where that is within 2 ulp of libm; the interpreter calls libm
  (only a graph forced onto the tape can be that small);
- ``fast_math=True``: both compile with ``-ffast-math``, which licenses the
  compiler to reassociate differently in the two programs;
- by 1 ulp in a libm call gcc folds in the compiled kernel, where its operand is a
  constant on one branch of a ``maximum``/``minimum`` (found in float32:
  ``atan2(0.5, maximum(x, -2)**2 + 2)``, correctly rounded there, glibc's
  ``atan2f`` in the interpreter, as numpy's float32 ``arctan2`` gives; in float64:
  ``tanh`` of the constant in ``asin(0.9*tanh(maximum(x, -0.5971...)))``).

Float32 constants are rounded from their decimal text, as the compiler rounds
the kernel's ``f`` literals (:func:`symgrad.codegen.printer.float32_literal`), never through double.
"""

from __future__ import annotations

import ctypes
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .._version import __version__
from ..codegen.csource import REAL, generate_native
from ..codegen.kernel import SlotTable
from ..codegen.printer import SMALL_POWER, c_backend, expr_pow, float32_literal
from ..codegen.render import render
from ..codegen.schedule import Schedule
from ..codegen.tape import CODE, OPCODES, Tape, build_tape
from ..errors import BackendError, UnsupportedOpError
from ..ir.node import Node, const
from ..ir.ops import OPS, c_helpers
from ..limits import gc_paused
from . import c as native
from . import vecmath
from .once import BuiltOnce, thread_pool

BLOCK = 128
"""Points per block: each instruction's dispatch is spread over this many points (measured on the 10^4-step
chain gradient: 64 points cost 8% more per point, 256 no less)."""
WORK_BYTES = 64 << 20
"""At most this many bytes of rows per thread: a tape with many registers or constants runs in smaller blocks."""
_MIN_WORK_PER_THREAD = 1 << 21  # instructions x points: below this a thread costs more than it saves

POWERS: tuple[int | Fraction, ...] = (
    *(e for k in range(1, SMALL_POWER + 1) for e in (k, -k)),
    Fraction(1, 2),
    Fraction(-1, 2),
    Fraction(3, 2),
)
"""Constant exponents with an opcode of their own, spelled by the C printer (``x*x*x*x``, ``1/sqrt(x)``,
``pow(x, 1.5)``): every exponent the printer spells specially, and the tape's expansions that it does not."""
POWER_CODE = {e: len(OPCODES) + k for k, e in enumerate(POWERS)}

_ARITHMETIC = {"add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0}*{1}", "divide": "{0}/{1}", "copy": "{0}"}
"""The C operators of the tape's arithmetic opcodes: those the printer joins n-ary sums and products with."""


@dataclass(frozen=True)
class Operation:
    """One opcode of the interpreter: its number, its name and its C expression of ``{0}``, ``{1}``, ``{2}``."""

    code: int
    name: str
    expr: str


def operations(dtype: str) -> list[Operation]:
    """Every opcode the interpreter runs, with the C printer's spelling for ``dtype``.

    The tape's opcodes keep their numbers (:data:`symgrad.codegen.tape.OPCODES`),
    the constant powers of :data:`POWERS` follow; an op of the table without a C
    spelling is left out (a tape using it is refused as the per-graph printer
    refuses it).
    """
    be = c_backend(dtype)
    found = []
    for code, name in enumerate(OPCODES):
        if name in _ARITHMETIC:
            expr = _ARITHMETIC[name]
        elif name == "sqrt":
            expr = be.sqrt
        elif name == "power":
            expr = be.power
        elif OPS[name].cuda:
            expr = be.spell(name)
        else:
            continue
        found.append(Operation(code, name, expr))
    for e, code in POWER_CODE.items():
        found.append(Operation(code, f"power {e}", expr_pow("{0}", const(e), be.literal(e), be)))
    return found


def vm_name(dtype: str) -> str:
    return f"sg_tape_vm_{dtype}"


def vm_source(dtype: str) -> str:
    """The interpreter's C source for ``dtype``: the same text for every graph."""
    ops = operations(dtype)
    table = [f"{op.code}: {op.name}" for op in ops]
    legend = ["opcodes " + ", ".join(table[i : i + 8]) for i in range(0, len(table), 8)]
    rows = [{"code": op.code, "name": op.name, "expr": op.expr.format("a[l]", "b[l]", "c[l]")} for op in ops]
    return render(
        "c/tape_vm.c.j2",
        version=__version__,
        graph_hash="of any tape (the instruction-tape interpreter)",
        legend=legend,
        cuda=False,
        real=REAL[dtype],
        name=vm_name(dtype),
        helpers=c_helpers(OPCODES),
        declarations=[],
        ops=rows,
    )


# -- the program: the tape with the C printer's constant powers --------------------------------


Program = Tape
"""What the interpreter runs: a :class:`~symgrad.codegen.tape.Tape` whose constant powers have opcodes of
their own (:data:`POWER_CODE`, past the tape's :data:`~symgrad.codegen.tape.OPCODES`), as the C printer spells them."""


def _exponent(value: float) -> int | Fraction | None:
    """The exponent the graph held, from the tape's float (integral constants are ints there, halves Fractions)."""
    if not math.isfinite(value):
        return None
    e = int(value) if value.is_integer() else Fraction(value)
    return e if e in POWER_CODE else None


def c_program(tape: Tape) -> Program:
    """The tape as the interpreter runs it: the C printer's lowering of constant powers, everything else as is.

    Three rewrites, each exact to one node of the graph:

    - ``power(b, k)`` with a constant exponent of :data:`POWERS` (``x**5``: the
      tape calls pow, the printer multiplies) becomes that power's opcode;
    - ``multiply(b, b) -> o; multiply(o, o) -> o`` (the tape's ``x**4``, also the
      start of ``x**-4``) becomes the opcode of ``x*x*x*x``;
    - ``sqrt(b) -> o; multiply(o, b) -> o`` (the tape's ``x**1.5``) becomes that
      of ``pow(x, 1.5)``.

    The two-instruction forms arise from nothing else: a step's first
    instruction never reads the slot it writes (a step's register is taken
    before its operands' are freed), and only the tape's power expansions emit
    ``sqrt``.  The operand must differ from the destination for the rewrite, so
    a register plan that changed that would leave the tape's form (within 5 ulp,
    and ``tests/backends/test_c_tape.py`` would say so).
    """
    code = tape.code.astype(np.int16)  # copies: the tape is shared with the numpy backend
    args = tape.args.astype(np.int32)
    dest = tape.dest.astype(np.int32)
    keep = np.ones(len(code), dtype=bool)
    first_const = tape.n_inputs + tape.n_outputs
    # constant exponents of power instructions
    is_pow = (code == CODE["power"]) & (args[:, 1] >= first_const) & (args[:, 1] < first_const + len(tape.constants))
    for k in np.flatnonzero(is_pow).tolist():
        e = _exponent(tape.constants[int(args[k, 1]) - first_const])
        if e is not None:
            code[k] = POWER_CODE[e]
            args[k, 1] = -1
    if len(code) > 1:
        first, second = slice(0, -1), slice(1, None)
        base = args[first, 0]
        out = dest[first]
        pairs = (
            (dest[second] == out)
            & (base != out)
            & (code[second] == CODE["multiply"])
            & (args[second, 2] < 0)
            & (args[second, 0] == out)
        )
        square = pairs & (code[first] == CODE["multiply"]) & (args[first, 1] == base) & (args[second, 1] == out)
        root = pairs & (code[first] == CODE["sqrt"]) & (args[second, 1] == base)
        for found, e in ((square, 4), (root, Fraction(3, 2))):
            at = np.flatnonzero(found)
            code[at] = POWER_CODE[e]
            args[at, 1] = -1
            keep[at + 1] = False
    return _checked(
        Program(
            code=np.ascontiguousarray(code[keep]),
            args=np.ascontiguousarray(args[keep]),
            dest=np.ascontiguousarray(dest[keep]),
            n_inputs=tape.n_inputs,
            n_outputs=tape.n_outputs,
            constants=tape.constants,
            n_registers=tape.n_registers,
        )
    )


def _checked(p: Program) -> Program:
    """The program, after checking what the interpreter trusts: known opcodes, slots in range, no write to an input."""
    supported = np.zeros(len(OPCODES) + len(POWERS), dtype=bool)
    supported[[op.code for op in operations("float64")]] = True
    if len(p) and not supported[p.code].all():
        name = OPCODES[int(p.code[~supported[p.code]][0])]
        raise UnsupportedOpError(name, "c")
    n_slots = p.n_slots
    first_const = p.n_inputs + p.n_outputs
    writes_read_only = (p.dest < p.n_inputs) | ((p.dest >= first_const) & (p.dest < first_const + len(p.constants)))
    if len(p) and (p.args.max() >= n_slots or p.args.min() < -1 or (p.args[:, 0] < 0).any()):
        raise BackendError("symgrad built a tape with an operand out of range; this is a symgrad bug, please report it")
    if len(p) and (p.dest.max() >= n_slots or writes_read_only.any()):
        raise BackendError("symgrad built a tape writing a read-only slot; this is a symgrad bug, please report it")
    return p


# -- the kernel --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TapedKernel:
    """A C kernel past the tape threshold: its program for the interpreter, and the facts the C backend keeps.

    ``unique`` are the distinct computed outputs the program writes (the caller
    copies repeated slots and fills constant ones, as for the numpy tape);
    ``source`` prints, on demand, the C the per-graph compile would build.
    """

    program: Program
    name: str
    dtype: str
    graph_hash: str
    steps: int
    n_inputs: int
    unique: tuple[Node, ...]
    threshold: int
    listing: Callable[[], str] = field(repr=False)

    @property
    def source(self) -> str:
        """A comment on how this kernel runs, then the C kernel the per-graph compile would build (printed now)."""
        return self.listing()


def generate_tape_kernel(
    sched: Schedule,
    inputs: list[Node],
    slots: SlotTable | list[Node],
    unique: list[Node],
    dtype: str,
    threshold: int,
    gh: str,
) -> TapedKernel:
    """The taped C kernel of ``slots`` (``sched`` schedules ``unique``, the distinct non-constant slots)."""

    def listing() -> str:
        program = kernel.program
        source = generate_native(inputs, slots, dtype, "c", vecmath.functions(dtype)).source
        header = render(
            "c/tape_listing.c.j2",
            steps=len(sched.steps),
            threshold=threshold,
            instructions=len(program),
            registers=program.n_registers,
            constants=len(program.constants),
            env=native.C_TAPE_ENV,
        )
        return header + source

    # the tape itself is not kept: the kernel's program is a copy
    kernel = from_tape(build_tape(sched, inputs, unique), unique, dtype, gh, listing, len(sched.steps), threshold)
    return kernel


def from_tape(
    tape: Tape,
    unique: list[Node],
    dtype: str,
    gh: str,
    listing: Callable[[], str],
    steps: int | None = None,
    threshold: int | None = None,
) -> TapedKernel:
    """The taped C kernel running ``tape`` (a graph's, or :mod:`symgrad.codegen.adjoint`'s), writing ``unique``.

    ``steps``: the statements it stands for (default: its instructions); ``threshold``: the tape threshold it
    was taken past (default: the current one).
    """
    return TapedKernel(
        program=c_program(tape),
        name=f"c_tape_{gh}_{dtype}",
        dtype=dtype,
        graph_hash=gh,
        steps=len(tape) if steps is None else steps,
        n_inputs=tape.n_inputs,
        unique=tuple(unique),
        threshold=native.tape_statements() if threshold is None else threshold,
        listing=listing,
    )


# -- the interpreter: compiled once, loaded once --------------------------------------------------


_VMS = BuiltOnce()  # loaded interpreters by (dtype, flags)

_INDEX = ctypes.c_longlong
_ARGTYPES = [ctypes.c_void_p] * 3 + [_INDEX] + [ctypes.c_void_p, _INDEX, _INDEX]  # the program, constants, registers
_ARGTYPES += [ctypes.c_void_p, ctypes.c_void_p, _INDEX]  # X, S, inputs
_ARGTYPES += [ctypes.c_void_p, _INDEX, _INDEX]  # O, OS, outputs
_ARGTYPES += [_INDEX, _INDEX, _INDEX, ctypes.c_void_p, ctypes.c_void_p]  # start, stop, block, W, P


def load_vm(dtype: str, fast_math: bool = False):
    """The interpreter's ctypes function for ``dtype``: compiled at most once (then from the disk cache), loaded once."""
    flags = native.interpreter_flags(fast_math)

    def build():
        with gc_paused():  # rendering (jinja2's first import) would run full collections over a huge caller's graph
            fn = getattr(native.load_library(native.compile_library(vm_source(dtype), flags)), vm_name(dtype))
        fn.restype = None
        fn.argtypes = _ARGTYPES
        return fn

    return _VMS.get((dtype, flags), build)


def clear_cache() -> None:
    _VMS.clear()


class TapeRunner:
    """Runs a :class:`TapedKernel` as ``kernel(columns, outputs, n)``: the batch in ranges, one per thread.

    Each range is whole blocks and has its own work area (rows and their
    pointer table), so threads share only the read-only program and constants;
    ``ctypes`` releases the GIL for the call.
    """

    def __init__(self, kernel: TapedKernel, threads: int = 1, fast_math: bool = False) -> None:
        self.kernel = kernel
        self.threads = threads
        self.fast_math = fast_math
        self.dtype = np.dtype(kernel.dtype)
        p = kernel.program
        values = [float32_literal(v) for v in p.constants] if kernel.dtype == "float32" else list(p.constants)
        self._constants = np.array(values, dtype=self.dtype).reshape(-1)
        self._fn = None

    def block(self, n: int, out_rows: int) -> int:
        """Points per block: BLOCK, fewer for a small batch or when the rows would pass WORK_BYTES."""
        p = self.kernel.program
        rows = p.n_inputs + len(p.constants) + p.n_registers + out_rows
        block = BLOCK if self.fast_math else min(BLOCK, max(n, 1))  # fast math: every block is whole (_run_tail)
        while block > 1 and rows * block * self.dtype.itemsize > WORK_BYTES:
            block //= 2
        return block

    def __call__(self, columns: list[np.ndarray], outputs: list[np.ndarray], n: int) -> None:
        if n <= 0:
            return
        fn = self._fn or self._load()
        p = self.kernel.program
        ins, strides = native.pointers_and_strides(columns)
        outs, out_stride = native.output_pointers(outputs)
        out_rows = p.n_outputs if out_stride != 1 else 0  # strided outputs go through rows of the work area
        block = self.block(n, out_rows)
        whole = n - n % block if self.fast_math else n
        if whole < n:
            self._run_tail(fn, columns, outputs, whole, n, block)
        blocks = -(-whole // block)
        parts = min(self.threads, blocks, max(1, whole * max(len(p), 1) // _MIN_WORK_PER_THREAD))
        bounds = [min(whole, blocks * k // max(parts, 1) * block) for k in range(parts)] + [whole]
        ranges = [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]
        if len(ranges) <= 1:
            for lo, hi in ranges:
                self._run(fn, ins, strides, outs, out_stride, lo, hi, block, out_rows)
            return
        pool = thread_pool("symgrad-c")
        futures = [
            pool.submit(self._run, fn, ins, strides, outs, out_stride, lo, hi, block, out_rows) for lo, hi in ranges
        ]
        for f in futures:
            f.result()

    def _run(self, fn, ins, strides, outs, out_stride: int, lo: int, hi: int, block: int, out_rows: int) -> None:
        """Points [lo, hi) through the interpreter, with a work area of this call's own."""
        p = self.kernel.program
        rows = p.n_inputs + len(p.constants) + p.n_registers + out_rows
        work = np.empty(max(rows * block, 1), dtype=self.dtype)
        table = np.empty(max(p.n_slots, 1), dtype=np.uintp)
        fn(
            p.code.ctypes.data,
            p.args.ctypes.data,
            p.dest.ctypes.data,
            len(p),
            self._constants.ctypes.data,
            len(p.constants),
            p.n_registers,
            ins,
            strides,
            p.n_inputs,
            outs,
            out_stride,
            p.n_outputs,
            lo,
            hi,
            block,
            work.ctypes.data,
            table.ctypes.data,
        )

    def _run_tail(self, fn, columns: list[np.ndarray], outputs: list[np.ndarray], lo: int, n: int, block: int) -> None:
        """Points [lo, n) (less than a block) as one whole block padded with the last point (fast math only).

        Under ``-ffast-math`` the loops call libmvec's variants, and a partial block
        ends in libm's scalar ones: a point's value must not depend on where the batch ends.
        """
        idx = np.minimum(np.arange(lo, lo + block), n - 1)
        cols = [c if c.ndim == 0 else np.ascontiguousarray(c[idx], dtype=self.dtype) for c in columns]
        padded = np.empty((len(outputs), block), dtype=self.dtype)
        ins, strides = native.pointers_and_strides(cols)
        outs, out_stride = native.output_pointers(list(padded))
        self._run(fn, ins, strides, outs, out_stride, 0, block, block, 0)
        for o, row in zip(outputs, padded):
            o[lo:n] = row[: n - lo]

    def _load(self):
        self._fn = load_vm(self.kernel.dtype, self.fast_math)
        return self._fn
