"""Printers: a schedule in, lines of code out.  Printers print; templates frame.

Two walkers share the schedule and the op table's spellings:

- :func:`numpy_statements` writes each step into a preallocated buffer with
  numpy's ``out=`` (the fused, in-place form), reusing buffers once their value
  is dead;
- :func:`expression_statements` writes each step as one SSA assignment of a
  scalar expression; the python, C and CUDA backends differ only in the
  spellings collected in their :class:`ExprBackend` record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import UnsupportedOpError
from ..ir.node import Node, float_value
from ..ir.ops import OPS
from .schedule import Schedule, buffer_plan, effective_args, negated, reciprocal_of


def _float_text(value) -> str:
    v = float_value(value)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INF" if v > 0 else "(-INF)"
    text = repr(v)
    return f"({text})" if text.startswith("-") else text  # -0.0 too


# -- numpy: statements into buffers -------------------------------------------------


def _numpy_literal(value) -> str:
    return _float_text(value).replace("NAN", "np.nan").replace("INF", "np.inf")


def _numpy_pow(base: str, expo: Node, e_name: str, out: str) -> list[str]:
    if expo.op != "const":
        return [f"np.power({base}, {e_name}, out={out})"]
    e = expo.value
    table = {
        2: [f"np.multiply({base}, {base}, out={out})"],
        3: [f"np.multiply({base}, {base}, out={out})", f"np.multiply({out}, {base}, out={out})"],
        4: [f"np.multiply({base}, {base}, out={out})", f"np.multiply({out}, {out}, out={out})"],
        -1: [f"np.divide(1.0, {base}, out={out})"],
        -2: [f"np.multiply({base}, {base}, out={out})", f"np.divide(1.0, {out}, out={out})"],
        -3: [
            f"np.multiply({base}, {base}, out={out})",
            f"np.multiply({out}, {base}, out={out})",
            f"np.divide(1.0, {out}, out={out})",
        ],
        -4: [
            f"np.multiply({base}, {base}, out={out})",
            f"np.multiply({out}, {out}, out={out})",
            f"np.divide(1.0, {out}, out={out})",
        ],
        Fraction(1, 2): [f"np.sqrt({base}, out={out})"],
        Fraction(-1, 2): [f"np.sqrt({base}, out={out})", f"np.divide(1.0, {out}, out={out})"],
        Fraction(3, 2): [f"np.sqrt({base}, out={out})", f"np.multiply({out}, {base}, out={out})"],
    }
    return table.get(e, [f"np.power({base}, {_numpy_literal(e)}, out={out})"])


def _numpy_chain(ufunc: str, inverse: str, plus: list[str], minus: list[str], out: str) -> list[str]:
    """``out = p0 (.) p1 (.) ... (inverse) m0 (inverse) m1 ...`` as in-place ufunc calls (``plus`` is never empty:
    the schedule leaves an operand unabsorbed, see :func:`~symgrad.codegen.schedule.schedule`)."""
    lines: list[str] = []
    if len(plus) >= 2:
        lines.append(f"np.{ufunc}({plus[0]}, {plus[1]}, out={out})")
        rest = plus[2:]
    elif len(plus) == 1 and minus:
        lines.append(f"np.{inverse}({plus[0]}, {minus[0]}, out={out})")
        rest, minus = [], minus[1:]
    else:
        lines.append(f"np.copyto({out}, {plus[0]})")
        rest = []
    lines += [f"np.{ufunc}({out}, {p}, out={out})" for p in rest]
    lines += [f"np.{inverse}({out}, {m}, out={out})" for m in minus]
    return lines


def _numpy_step(node: Node, out: str, name: Callable[[Node], str], absorbed: frozenset) -> list[str]:
    if node.op in ("add", "mul"):
        probe = negated if node.op == "add" else reciprocal_of
        plus = [name(a) for a in node.args if a not in absorbed]
        minus = [name(probe(a)) for a in node.args if a in absorbed]
        if node.op == "add":
            return _numpy_chain("add", "subtract", plus, minus, out)
        return _numpy_chain("multiply", "divide", plus, minus, out)
    if node.op == "pow":
        return _numpy_pow(name(node.args[0]), node.args[1], name(node.args[1]), out)
    spelling = OPS[node.op].numpy
    if not spelling:
        raise UnsupportedOpError(node.op, "numpy")
    return spelling.format(*(name(a) for a in node.args), out=out).split("; ")


def numpy_statements(
    sched: Schedule,
    input_names: dict[Node, str],
    output_names: dict[Node, str],
    buffer_name: Callable[[int], str] = "b{}".format,
) -> tuple[list[str], int]:
    """Lines computing every step into a buffer (or straight into its output), and the buffer count.

    The caller chooses how inputs, outputs and buffers are spelled (``x0``, or
    ``X[0]`` when the kernel is cut into parts that share lists), so cutting a
    long kernel never needs to rewrite printed code.
    """
    names: dict[Node, str] = dict(input_names)
    lines: list[str] = []

    def name(node: Node) -> str:
        return _numpy_literal(node.value) if node.op == "const" else names[node]

    plan, n_buffers = buffer_plan(sched, output_names)
    for node, buffer in zip(sched.steps, plan):
        target = output_names[node] if buffer is None else buffer_name(buffer)
        lines += _numpy_step(node, target, name, sched.absorbed)
        names[node] = target
    return lines, n_buffers


# -- scalar expressions: python, C, CUDA ------------------------------------------------


@dataclass(frozen=True)
class ExprBackend:
    """The spellings that make one scalar-expression backend."""

    name: str
    spelling: str  # which field of an Op holds this backend's spelling
    sqrt: str
    power: str
    literal: Callable[[object], str]
    assign: str  # format of one SSA statement: {name}, {expr}
    adapt: Callable[[str], str] = str  # applied to each op-table spelling (C float32 suffixes its literals)

    def spell(self, op: str) -> str:
        spelling = getattr(OPS[op], self.spelling)
        if not spelling:
            raise UnsupportedOpError(op, self.name)
        return self.adapt(spelling)


def _python_literal(value) -> str:
    return _float_text(value).replace("NAN", "_m.nan").replace("INF", "_m.inf")


PYTHON = ExprBackend("python", "python", "_m.sqrt({0})", "_m.pow({0}, {1})", _python_literal, "{name} = {expr}")

# A float literal in an op-table spelling (``0.5``, ``1.0``), not part of a name like ``t12``.
_C_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?)(?![\w.])")


def float32_literal(value: float) -> float:
    """The float32 a C compiler makes of the literal ``repr(value) + "f"`` (correctly rounded from the decimal).

    Rounding the double to float32 gives the same number except when the double
    lies exactly halfway between two float32s: the decimal text (the shortest
    that reads back as the double) is then off the midpoint, and its side decides.
    """
    with np.errstate(over="ignore"):
        f = np.float32(value)
    if float(f) == value or not math.isfinite(value):
        return float(f)
    g = np.nextafter(f, np.float32(math.copysign(math.inf, value - float(f))))  # the float32 on value's other side
    # an overflowed float32 stands for 2**128 here, the one after the largest: the midpoint below it is a tie too
    ends = [math.copysign(2.0**128, v) if math.isinf(v) else float(v) for v in (f, g)]
    decimal = Fraction(repr(value))
    if ends[0] + ends[1] != 2 * value or decimal == Fraction(value):  # no tie (sums of adjacent float32s are exact)
        return float(f)
    return float(max(f, g) if decimal > Fraction(value) else min(f, g))


_FLOAT32 = np.finfo(np.float32)
_FLOAT32_INSIDE = (float(_FLOAT32.smallest_subnormal), float(_FLOAT32.max))  # a literal between is a finite nonzero


def _c_literal(value, suffix: str) -> str:
    v = float_value(value)
    if suffix and not _FLOAT32_INSIDE[0] < abs(v) < _FLOAT32_INSIDE[1]:
        f = float32_literal(v)  # past float32's range (or under it): the compiler's inf (or 0), without its warning
        v = f if math.isinf(f) or f == 0 else v
    text = _float_text(v)
    special = {"NAN": "((real)SG_NAN)", "INF": "((real)SG_INF)", "(-INF)": "(-(real)SG_INF)"}
    if text in special:
        return special[text]
    bare = text.strip("()") + suffix  # a float's repr always has a "." or an exponent: a C double literal
    return f"({bare})" if text.startswith("(") else bare


def c_backend(dtype: str) -> ExprBackend:
    """C and CUDA share one spelling (the op table's ``cuda`` field); ``real`` is the kernel's float type.

    In float32 kernels every literal carries an ``f`` suffix, so no expression is
    silently promoted to double (which costs 2-64x on GPUs and changes rounding).
    """
    suffix = "f" if dtype == "float32" else ""
    return ExprBackend(
        name="c",
        spelling="cuda",
        sqrt="sqrt({0})",
        power="pow({0}, {1})",
        literal=lambda v: _c_literal(v, suffix),
        assign="const real {name} = {expr};",
        adapt=(lambda text: _C_FLOAT.sub(r"\1f", text)) if suffix else str,
    )


SMALL_POWER = 6  # integer powers up to this are spelled as products


def expr_pow(base: str, expo: Node, e_name: str, be: ExprBackend) -> str:
    """``base**expo`` as one expression: a few multiplies for small integer powers, sqrt for halves, else pow.

    Public because the C tape interpreter spells its constant-power opcodes with it, so they
    round exactly as the printed kernels do.
    """
    if expo.op == "const":
        e = expo.value
        one = be.literal(1)
        if isinstance(e, int) and 1 <= abs(e) <= SMALL_POWER:  # a few multiplies beat a call to pow
            product = "*".join([base] * abs(e))
            return product if e > 0 else f"{one}/{product}" if e == -1 else f"{one}/({product})"
        if e == Fraction(1, 2):
            return be.sqrt.format(base)
        if e == Fraction(-1, 2):
            return f"{one}/" + be.sqrt.format(base)
    return be.power.format(base, e_name)


# Longest run of operands in one expression: compilers (CPython's among them) recurse
# over nested binary operations, so a 10,000-term sum is split into partial sums.
MAX_OPERANDS = 32


def _nary_pieces(node: Node, name: Callable[[Node], str], absorbed: frozenset) -> list[str]:
    """The operands of a sum or product as ``+a``/``-b`` (``*a``/``/b``) pieces, the first unsigned (never absorbed)."""
    probe = negated if node.op == "add" else reciprocal_of
    join, inv = (" + ", " - ") if node.op == "add" else ("*", "/")
    plus = [join + name(a) for a in node.args if a not in absorbed]
    minus = [inv + name(probe(a)) for a in node.args if a in absorbed]
    pieces = plus + minus
    return [pieces[0][len(join) :]] + pieces[1:]


def _nary_piece_reads(node: Node, names: dict[Node, str], absorbed: frozenset) -> list[str | None]:
    """The name each of :func:`_nary_pieces`' pieces reads (None for a literal), in the same order."""
    probe = negated if node.op == "add" else reciprocal_of
    plus = [a for a in node.args if a not in absorbed]
    minus = [probe(a) for a in node.args if a in absorbed]
    return [None if a.op == "const" else names[a] for a in plus + minus]


def _expr_step(node: Node, name: Callable[[Node], str], absorbed: frozenset, be: ExprBackend) -> str:
    if node.op in ("add", "mul"):
        return "".join(_nary_pieces(node, name, absorbed))
    if node.op == "pow":
        return expr_pow(name(node.args[0]), node.args[1], name(node.args[1]), be)
    return be.spell(node.op).format(*(name(a) for a in node.args))


@dataclass(frozen=True)
class Statement:
    """One printed SSA assignment and the names it defines and reads (so code can be cut without parsing it)."""

    text: str
    defines: str
    reads: tuple[str, ...]


def expression_statements(
    sched: Schedule, input_names: dict[Node, str], be: ExprBackend
) -> tuple[list[Statement], dict[Node, str]]:
    """One SSA assignment per step; returns the statements and the name holding each value."""
    names: dict[Node, str] = dict(input_names)

    def name(node: Node) -> str:
        return value_text(node, names, be)

    statements: list[Statement] = []
    for i, node in enumerate(sched.steps):
        target = f"t{i}"
        reads = tuple(dict.fromkeys(names[a] for a in effective_args(node, sched.absorbed) if a.op != "const"))
        if node.op in ("add", "mul") and len(node.args) > MAX_OPERANDS:
            pieces = _nary_pieces(node, name, sched.absorbed)
            piece_reads = _nary_piece_reads(node, names, sched.absorbed)  # each partial records only its own reads
            partial = None
            for k in range(0, len(pieces), MAX_OPERANDS):
                chunk = "".join(pieces[k : k + MAX_OPERANDS])
                expr = chunk if partial is None else partial + chunk
                previous = () if partial is None else (partial,)
                own = tuple(dict.fromkeys(r for r in piece_reads[k : k + MAX_OPERANDS] if r is not None))
                partial = f"{target}_{k // MAX_OPERANDS}" if k + MAX_OPERANDS < len(pieces) else target
                statements.append(Statement(be.assign.format(name=partial, expr=expr), partial, previous + own))
        else:
            text = be.assign.format(name=target, expr=_expr_step(node, name, sched.absorbed, be))
            statements.append(Statement(text, target, reads))
        names[node] = target
    return statements, names


def value_text(node: Node, names: dict[Node, str], be: ExprBackend) -> str:
    """How code reads the value of an output node: its temporary, input or literal."""
    return be.literal(node.value) if node.op == "const" else names[node]
