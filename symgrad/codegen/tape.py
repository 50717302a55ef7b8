"""An instruction tape: the numpy kernel as arrays of opcodes and operand slots, no source text.

Past :data:`symgrad.codegen.kernel.TAPE_STATEMENTS` steps, printing a numpy
kernel and handing it to CPython's compiler costs far more than running it
(~30 µs and ~200 bytes of compiler memory per source byte, per line).  A tape
is the same computation as data: instruction ``k`` calls ``FUNCTIONS[code[k]]``
on the slots ``args[k]`` (``-1`` pads) writing into slot ``dest[k]``.  Slots are
numbered inputs, then outputs, then constants, then registers (buffers reused
once their value is dead, as the printed kernel reuses its buffers).

The lowering below makes the very ufunc calls the printer spells (the same
operand order, the same in-place chains for sums and products, the same
expansion of small powers), so a tape and the printed kernel agree bit for bit;
``tests/codegen/test_tape.py`` holds them to it.  The per-op functions come from the op
table (:func:`op_function`), never from printed code.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._version import __version__
from ..errors import UnsupportedOpError
from ..ir.node import Node, float_value
from ..ir.ops import OPS
from .printer import PYTHON
from .render import render
from .schedule import Schedule, buffer_plan, negated, reciprocal_of


def _copy(a, *, out) -> None:
    np.copyto(out, a)


def _from_reference(ref: Callable) -> Callable:
    """``ref(*operands)`` written into ``out``: for ops whose numpy form is not one ufunc (where, erf, sigmoid)."""

    def into(*operands, out) -> None:
        out[...] = ref(*operands)

    return into


def op_function(name: str) -> Callable:
    """The callable ``f(*operands, out=buffer)`` computing op ``name`` into ``buffer``, from the op table.

    In order: the entry's ``into`` field (a callable taking ``out=``) or
    ``ufunc`` field where the table has them; else its first numpy ufunc name
    when numpy has that ufunc with the op's arity (``sin``, ``absolute``,
    ``maximum``, ``less``: exactly what the numpy spelling calls); else its
    reference implementation, assigned into ``out``.
    """
    op = OPS[name]
    for field in ("into", "ufunc"):
        fn = getattr(op, field, None)
        if callable(fn):
            return fn
    for ufunc_name in op.ufuncs[:1]:
        ufunc = getattr(np, ufunc_name, None)
        if isinstance(ufunc, np.ufunc) and ufunc.nin == op.arity and ufunc.nout == 1:
            return ufunc
    if op.ref is None:
        raise UnsupportedOpError(name, "numpy")
    return _from_reference(op.ref)


ARITHMETIC = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "power": np.power,
    "sqrt": np.sqrt,
    "copy": _copy,
}
OPCODES: tuple[str, ...] = (*ARITHMETIC, *(n for n in OPS if n not in ("add", "mul", "pow")))
"""Opcode k is the k-th name: the arithmetic the printer's hooks spell, then every other op of the table."""
CODE = {name: k for k, name in enumerate(OPCODES)}


def functions() -> list[Callable]:
    """The callable of every opcode, in opcode order."""
    return [ARITHMETIC[n] if n in ARITHMETIC else op_function(n) for n in OPCODES]


# The arithmetic opcodes on Python floats, as the scalar path's printer spells them (PYTHON's sqrt and power).
_FLOAT_ARITHMETIC = {
    "add": "{0} + {1}",
    "subtract": "{0} - {1}",
    "multiply": "{0} * {1}",
    "divide": "{0} / {1}",
    "power": PYTHON.power,
    "sqrt": PYTHON.sqrt,
    "copy": "{0}",
}


@functools.cache
def float_functions_source() -> str:
    """Python source defining ``FUNCTIONS``: opcode k's function on plain floats, ``f(a, b, c)``.

    The scalar path of a taped kernel runs one point through these instead of
    numpy's ufuncs on one-element arrays (~10x less per instruction).  Each body
    is the op table's ``python`` spelling (what the printed scalar path writes);
    an op without one raises ArithmeticError, which sends the call to the numpy
    tape, as a math domain error or a non-finite value does.
    """
    ops = []
    for name in OPCODES:
        spelling = _float_spelling(name)
        body = f"return {spelling.format('a', 'b', 'c')}" if spelling else f"raise ArithmeticError({name!r})"
        ops.append({"name": name, "body": body})
    return render("numpy/tape_floats.py.j2", version=__version__, ops=ops)


def _float_spelling(name: str) -> str | None:
    """Opcode ``name`` on Python floats, ``{0}``... for its operands (None: the op has no float spelling)."""
    return _FLOAT_ARITHMETIC.get(name) or OPS[name].python or None


def straight_line_source(tape: Tape, name: str) -> str | None:
    """The tape as one Python function on floats, a statement per instruction; None if an opcode has no float form.

    Each statement is the expression :func:`float_functions_source` gives that
    opcode's function, on the same operands in the same order, so a point gets
    the same bits from this function as from the tape's per-opcode functions;
    it only skips their calls (a few times faster).  Registers are local names
    reused as the tape reuses them.
    """
    n_in, n_out, n_const = tape.n_inputs, tape.n_outputs, len(tape.constants)
    spellings = [_float_spelling(op) for op in OPCODES]
    if any(spellings[c] is None for c in set(tape.code.tolist())):
        return None

    def operand(k: int) -> str:
        if k < n_in:
            return f"x{k}"
        if k < n_in + n_out:
            return f"o{k - n_in}"
        if k < n_in + n_out + n_const:
            return f"({PYTHON.literal(tape.constants[k - n_in - n_out])})"
        return f"r{k - n_in - n_out - n_const}"

    lines = [
        f"{operand(d)} = {spellings[c].format(*(operand(a) for a in row if a >= 0))}"
        for c, row, d in zip(tape.code.tolist(), tape.args.tolist(), tape.dest.tolist())
    ]
    return render(
        "numpy/tape_straight.py.j2",
        version=__version__,
        name=name,
        params=", ".join(f"x{k}" for k in range(n_in)),
        lines=lines,
        results="".join(f"o{k}, " for k in range(n_out)),
    )


@dataclass(frozen=True, eq=False)
class Tape:
    """The kernel as instructions over numbered slots (compared and hashed by identity)."""

    code: np.ndarray  # int16, one opcode per instruction
    args: np.ndarray  # int32 (instructions, 3): operand slots, -1 where an op takes fewer
    dest: np.ndarray  # int32: the slot each instruction writes
    n_inputs: int
    n_outputs: int
    constants: tuple[float, ...]  # the values of slots n_inputs + n_outputs + k
    n_registers: int

    @property
    def n_slots(self) -> int:
        return self.n_inputs + self.n_outputs + len(self.constants) + self.n_registers

    def __len__(self) -> int:
        return len(self.code)


# Constant exponents the printer expands (printer._numpy_pow): the same sequence of calls.
# Each entry: steps of (opcode, operands), where "b" is the base and "o" the output so far.
_POWERS: dict[object, tuple[tuple[str, tuple[str, ...]], ...]] = {
    2: (("multiply", ("b", "b")),),
    3: (("multiply", ("b", "b")), ("multiply", ("o", "b"))),
    4: (("multiply", ("b", "b")), ("multiply", ("o", "o"))),
    -1: (("divide", ("1", "b")),),
    -2: (("multiply", ("b", "b")), ("divide", ("1", "o"))),
    -3: (("multiply", ("b", "b")), ("multiply", ("o", "b")), ("divide", ("1", "o"))),
    -4: (("multiply", ("b", "b")), ("multiply", ("o", "o")), ("divide", ("1", "o"))),
    Fraction(1, 2): (("sqrt", ("b",)),),
    Fraction(-1, 2): (("sqrt", ("b",)), ("divide", ("1", "o"))),
    Fraction(3, 2): (("sqrt", ("b",)), ("multiply", ("o", "b"))),
}


_REGISTER = -(10**9)  # placeholder slots: registers are _REGISTER - k, constants -2 - k, until _finish numbers them


class _Builder:
    """Collects instructions (one flat row of opcode, three operand slots (-1 padded), destination each) and constants."""

    def __init__(self) -> None:
        # code, a0, a1, a2, dest per instruction, flat: one extend per instruction, 8 bytes an entry (a list's
        # pointers and int objects held a 10^6-instruction tape's rows twice over, then numpy's copy of them)
        self.rows = array("q")
        self.constants: dict[str, int] = {}  # repr of the value (exact; nan and -0.0 keyed apart) -> index

    def const(self, value) -> int:
        k = self.constants.setdefault(repr(float_value(value)), len(self.constants))
        return -2 - k

    def emit(self, op: str, operands: tuple[int, ...] | list[int], out: int) -> None:
        n = len(operands)
        self.rows.extend((CODE[op], operands[0], operands[1] if n > 1 else -1, operands[2] if n > 2 else -1, out))

    def chain(self, same: int, inverse: int, plus: list[int], minus: list[int], out: int) -> None:
        """``out = p0 (.) p1 ... (inverse) m0 ...``, in the printer's order (printer._numpy_chain); opcodes given."""
        extend = self.rows.extend
        if len(plus) >= 2:
            extend((same, plus[0], plus[1], -1, out))
            rest = plus[2:]
        elif len(plus) == 1 and minus:
            extend((inverse, plus[0], minus[0], -1, out))
            rest, minus = [], minus[1:]
        else:
            extend((_COPY, plus[0], -1, -1, out))
            rest = []
        for p in rest:
            extend((same, out, p, -1, out))
        for m in minus:
            extend((inverse, out, m, -1, out))

    def power(self, base: int, expo: Node, slot: Callable[[Node], int], out: int) -> None:
        steps = _POWERS.get(expo.value) if expo.op == "const" else None
        if steps is None:
            self.emit("power", (base, slot(expo)), out)
            return
        names = {"b": base, "o": out, "1": self.const(1.0)}
        for op, operands in steps:
            self.emit(op, tuple(names[a] for a in operands), out)

    def step(self, node: Node, slots: _Slots, absorbed: frozenset[Node], out: int) -> None:
        """The instructions of one scheduled step, ``node`` into slot ``out`` (operands looked up in ``slots``)."""
        op = node.op
        if op == "add" or op == "mul":
            args = node.args
            if not absorbed:
                plus, minus = [slots[a] for a in args], []
            else:
                probe = negated if op == "add" else reciprocal_of
                plus = [slots[a] for a in args if a not in absorbed]
                minus = [slots[probe(a)] for a in args if a in absorbed]
            if op == "add":
                self.chain(_ADD, _SUBTRACT, plus, minus, out)
            else:
                self.chain(_MULTIPLY, _DIVIDE, plus, minus, out)
        elif op == "pow":
            self.power(slots[node.args[0]], node.args[1], slots.__getitem__, out)
        elif op in CODE:
            self.emit(op, [slots[a] for a in node.args], out)
        else:
            raise UnsupportedOpError(op, "numpy")
        slots[node] = out


_COPY, _ADD, _SUBTRACT, _MULTIPLY, _DIVIDE = (CODE[n] for n in ("copy", "add", "subtract", "multiply", "divide"))


class _Slots(dict):
    """Node -> slot; a constant gets its slot on first use (``__missing__``), so operands are plain lookups."""

    def __init__(self, builder: _Builder, inputs: list[Node]) -> None:
        super().__init__((s, k) for k, s in enumerate(inputs))
        self.builder = builder

    def __missing__(self, node: Node) -> int:  # only a constant is met before it has a slot
        found = self[node] = self.builder.const(node.value)
        return found


def build_tape(sched: Schedule, inputs: list[Node], unique: list[Node]) -> Tape:
    """The tape computing ``unique`` (distinct non-constant outputs) from ``inputs``, one walk over the schedule.

    Registers are handed out and taken back exactly as
    :func:`symgrad.codegen.printer.numpy_statements` hands out its buffers.
    """
    n_in, n_out = len(inputs), len(unique)
    b = _Builder()
    slots = _Slots(b, inputs)
    outputs = {node: n_in + k for k, node in enumerate(unique) if node.op != "sym"}
    for k, node in enumerate(unique):
        if node.op == "sym":
            b.emit("copy", (slots[node],), n_in + k)
    absorbed = sched.absorbed
    plan, n_registers = buffer_plan(sched, outputs)
    for node, register in zip(sched.steps, plan):
        b.step(node, slots, absorbed, outputs[node] if register is None else _REGISTER - register)
    return _finish(b, n_in, n_out, n_registers)


def _finish(b: _Builder, n_in: int, n_out: int, n_registers: int) -> Tape:
    """Number the placeholder slots: constants after the outputs, registers after the constants."""
    first_const = n_in + n_out
    first_reg = first_const + len(b.constants)
    rows = np.frombuffer(b.rows, dtype=np.int64).reshape(-1, 5)  # the builder's buffer, numbered in place
    slots = rows[:, 1:]  # a0, a1, a2, dest: a view, numbered in place
    placeholder = slots <= -2  # (-1 pads an unused operand)
    found = slots[placeholder]
    reg = found <= _REGISTER
    np.subtract(first_reg + _REGISTER, found, out=found, where=reg)  # in place: no temporaries of the tape's size
    np.subtract(first_const - 2, found, out=found, where=~reg)
    slots[placeholder] = found
    return Tape(
        code=rows[:, 0].astype(np.int16),
        args=rows[:, 1:4].astype(np.int32),
        dest=rows[:, 4].astype(np.int32),
        n_inputs=n_in,
        n_outputs=n_out,
        constants=tuple(float(k) for k in b.constants),  # a float's repr reads back exactly
        n_registers=n_registers,
    )
