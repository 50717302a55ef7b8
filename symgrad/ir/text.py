"""Readable infix text for nodes: ``9*a**2``, ``x1**3 + 4*x1*x2 + x2**2 + 5``.

Printed iteratively over the topological order (no recursion on deep graphs).
Terms and factors come in sympy's order (:mod:`symgrad.ir.print_order`),
factors with negative powers go under a ``/``, and exponents of 1/2 are shown
as ``sqrt``, as sympy prints.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .node import Node, Number, format_number, integer_text, toposort
from .ops import COMPARISONS, OPS
from .print_order import Key, SortKeys, ordered_factors, ordered_terms

_ATOM, _POW, _MUL, _NEG, _ADD, _CMP = 100, 60, 50, 45, 40, 30


def _number_prec(value: Number) -> int:
    if isinstance(value, Fraction):
        return _MUL
    negative = math.copysign(1.0, value) < 0 if isinstance(value, float) else value < 0
    return _NEG if negative else _ATOM  # -0.0 too: (-0.0)**x, as -0.0**x reads as -(0.0**x)


def _wrap(text_prec: tuple[str, int], prec: int) -> str:
    text, p = text_prec
    return f"({text})" if p < prec else text


def _mul_text(coeff: Number, factors: list[Node], memo: dict, keys: dict[Node, Key]) -> tuple[str, int]:
    """Text of ``coeff * prod(factors)`` in sympy's factor order, negative powers under a division bar."""
    num: list[str] = []
    den: list[str] = []
    for f in ordered_factors(factors, keys):
        if _under_bar(f) and f.args[1].op != "const":  # y**(-z): 1/y**z, as sympy puts it under the bar
            c, rest = _split(f.args[1])
            expo = memo[rest[0]] if c == -1 and len(rest) == 1 else _mul_text(-c, rest, memo, keys)
            den.append(f"{_wrap(memo[f.args[0]], _POW + 1)}**{_wrap(expo, _POW + 1)}")
        elif _under_bar(f):
            inv = -f.args[1].value
            base = memo[f.args[0]]
            if inv == 1:
                den.append(_wrap(base, _POW))
            elif inv == Fraction(1, 2):
                den.append(f"sqrt({base[0]})")
            else:  # a fraction exponent in parentheses: 1/x**(3/2), never 1/x**3/2
                expo = format_number(inv)
                den.append(f"{_wrap(base, _POW + 1)}**{f'({expo})' if isinstance(inv, Fraction) else expo}")
        else:
            num.append(_wrap(memo[f], _MUL))
    sign = ""
    if coeff < 0:
        sign, coeff = "-", -coeff
    if isinstance(coeff, Fraction):
        if coeff.numerator != 1 or not num:
            num.insert(0, integer_text(coeff.numerator))
        den.insert(0, integer_text(coeff.denominator))
    elif coeff != 1 or not num:
        num.insert(0, format_number(coeff))
    text = "*".join(num)
    if den:
        text += "/" + (den[0] if len(den) == 1 else "(" + "*".join(den) + ")")
    return sign + text, (_NEG if sign else _MUL)


def _split(node: Node) -> tuple[Number, list[Node]]:
    if node.op == "mul" and node.args[0].op == "const":
        return node.args[0].value, list(node.args[1:])
    if node.op == "mul":
        return 1, list(node.args)
    return 1, [node]


class _Name(tuple):
    """The memo entry ``(name, _ATOM)`` of a let-bound node."""


def _add_text(terms: list[Node], memo: dict, keys: dict[Node, Key]) -> tuple[str, int]:
    """A sum's text from its terms in print order, each negative one after a `` - ``."""
    out = ""
    for term in terms:
        if isinstance(memo[term], _Name):  # a bound term reads its name (its sign inside), not its factors again
            negative, text = False, memo[term][0]
        elif term.op == "const":
            negative, text = term.value < 0, format_number(abs(term.value))
        elif term.op == "pow":  # x**(-2), as sympy prints a lone negative power
            negative, text = False, _wrap(memo[term], _MUL)
        else:
            coeff, factors = _split(term)
            negative, text = coeff < 0, _mul_text(abs(coeff), factors, memo, keys)[0]
        if not out:
            out = ("-" + text) if negative else text
        else:
            out += (" - " if negative else " + ") + text
    return out, _ADD


def _pow_text(node: Node, memo: dict, keys: dict[Node, Key]) -> tuple[str, int]:
    base, expo = node.args
    if expo.op == "const":
        if expo.value == -1 or expo.value == Fraction(-1, 2):  # 1/x and 1/sqrt(x), as sympy prints them
            return _mul_text(1, [node], memo, keys)
        if expo.value == Fraction(1, 2):
            return f"sqrt({memo[base][0]})", _ATOM
    return f"{_wrap(memo[base], _POW + 1)}**{_wrap(memo[expo], _POW + 1)}", _POW


def _node_text(node: Node, memo: dict, keys: SortKeys) -> tuple[str, int]:
    """The text of ``node`` (its operands' texts in ``memo``), and its sort key into ``keys``."""
    terms = ordered_terms(node, keys) if node.op == "add" else None
    keys.add(node, terms)
    if node.op == "const":
        return format_number(node.value), _number_prec(node.value)
    if node.op == "sym":
        return node.name, _ATOM
    if terms is not None:
        return _add_text(terms, memo, keys)
    if node.op == "mul":
        coeff, factors = _split(node)
        return _mul_text(coeff, factors, memo, keys)
    if node.op == "pow":
        return _pow_text(node, memo, keys)
    if node.op == "custom":  # custom functions (and softmax, logsumexp) by name
        return node.value.format(node.args, lambda a: memo[a][0]), _ATOM
    prec = _CMP if node.op in COMPARISONS else _ATOM
    return OPS[node.op].text.format(*(memo[a][0] for a in node.args)), prec


TEXT_LIMIT = 20_000
"""Expressions whose text written out would be longer (in characters, estimated) print with let-bindings."""
_BIND_MIN = 24  # shared subexpressions shorter than this stay inline: binding x**2 would not help a reader


def _written_out_sizes(order: list[Node]) -> dict[Node, int]:
    """The approximate length of each node's text written out as a tree (shared parts once per use), capped."""
    size: dict[Node, int] = {}
    cap = 4 * TEXT_LIMIT
    for n in order:
        if not n.args:
            size[n] = len(n.name) if n.op == "sym" else 6
        else:
            size[n] = min(cap, 4 + sum(size[a] + 3 for a in n.args))
    return size


def _names(order: list[Node]):
    """``t0, t1, ...``, skipping the names of the graph's own symbols."""
    taken = {n.name for n in order if n.op == "sym"}
    i = 0
    while True:
        if f"t{i}" not in taken:
            yield f"t{i}"
        i += 1


def to_text(node: Node) -> str:
    """The infix text of one node; a large shared graph as let-bindings (``t0 = ...`` lines, then the result).

    A graph shares subexpressions, a text repeats them at every use: the 24th
    derivative of ``exp(sin(x))`` is a 616-node graph whose text written out
    would be 262 MB, doubling per order.  Past :data:`TEXT_LIMIT` characters,
    each shared subexpression is printed once, bound to a name, as
    ``sympy.cse`` would, so the text grows with the graph, not the tree.
    """
    order = toposort([node])
    size = _written_out_sizes(order)
    bound: set[Node] = set()
    if size[node] > TEXT_LIMIT:
        users: dict[Node, int] = {}
        for n in order:
            for a in set(n.args):
                users[a] = users.get(a, 0) + 1
        bound = {n for n in order if users.get(n, 0) > 1 and n.args and size[n] >= _BIND_MIN}
        # a product prints a negative power's base under its bar, not the power's own text: bind the base
        # (printed once, read as 1/t0 or x/t0), else the power's name would go unused and the base be
        # written out at every use
        for n in [n for n in bound if _under_bar(n)]:
            bound.discard(n)
            if n.args[0].args:
                bound.add(n.args[0])
    memo: dict[Node, tuple[str, int]] = {}
    keys = SortKeys()
    lines: list[str] = []
    names = _names(order) if bound else None
    for n in order:
        memo[n] = _node_text(n, memo, keys)
        if n in bound:
            name = next(names)
            lines.append(f"{name} = {_bare(n, memo[n][0])}")
            memo[n] = _Name((name, _ATOM))
            keys.bind(n, name)
    return "\n".join([*lines, _bare(node, memo[node][0])])


def _under_bar(node: Node) -> bool:
    """Whether ``node`` is a power a product prints under a division bar: its exponent a negative number or
    a product with one (``x**-2``, ``y**(-z)``, as sympy's ``_print_Mul`` tests ``exp.as_coeff_Mul()[0] < 0``)."""
    if node.op != "pow":
        return False
    expo = node.args[1]
    if expo.op == "mul":
        expo = expo.args[0]
    return expo.op == "const" and expo.value < 0


def _bare(node: Node, text: str) -> str:
    """A comparison's text without its outer parentheses (they are there for its users)."""
    if node.op in COMPARISONS and text.startswith("("):
        return text[1:-1]
    return text
