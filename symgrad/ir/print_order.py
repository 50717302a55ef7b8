"""The order sympy prints a sum's terms and a product's factors in, for ``str()``.

symgrad keeps operands in hash order (canonical, but meaningless to a reader);
sympy prints ``3*x**2 - 26*x + 54``, ``x*cos(x) + sin(x)``, ``1 - x`` and
``exp(x)*sin(x)``.  This module computes sympy's keys on nodes, following
``Basic.sort_key`` / ``default_sort_key`` (a product's factors: numbers, then
named constants and symbols by name, then powers, products and sums, then
functions: exp, log, sin, cos... in sympy's fixed ranks, the others by name) and
``Expr.as_ordered_terms`` (a sum's terms by their monomials: exponent vectors
over the sum's bases, highest first in lexicographic order; a positive number
leads a two-term sum with ``-c*t``).  The keys are sympy's own tuple shapes,
so they compare as sympy's do.  Keys are built from the operands' keys (the printer
walks the topological order), never by recursion.
"""

from __future__ import annotations

from fractions import Fraction

from .builders import number_of
from .node import Node, Number, const, format_number, toposort
from .ops import OPS

Key = tuple

_NUMBER = (1, 0, "Number")
_SYMBOL = (2, 0, "Symbol")
_MUL = (3, 0, "Mul")
_ADD = (3, 1, "Add")
_POW = (3, 2, "Pow")
_ONE = (_NUMBER, (0, ()), (), 1)
# sympy's Function.class_key ranks; other functions rank 10000 and sort by class name
_FUNCTION_RANKS = {"exp": 10, "log": 11, "sin": 20, "cos": 21, "tan": 22, "sinh": 30, "cosh": 31, "tanh": 32}
_LATTICE = {"maximum": "Max", "minimum": "Min"}  # sympy's Max and Min are not Functions: class (5, 0, name)
_NAMED = {"pi": (2, 0, "Pi"), "E": (2, 0, "Exp1")}


def number_key(value: Number) -> Key:
    return (_NUMBER, (0, ()), (), value)


def symbol_key(name: str) -> Key:
    return (_SYMBOL, (1, (name,)), _ONE, 1)


def _function_class(node: Node) -> tuple:
    if node.op in _LATTICE:
        return (5, 0, _LATTICE[node.op])
    if node.op == "custom":  # a user's function: sympy's undefined Function
        return (4, 0, node.value.name)
    types = OPS[node.op].sympy_types
    name = types[0] if types else node.op
    return (4, _FUNCTION_RANKS.get(name, 10000), name)


def _scaled(key: Key, factor: Number) -> Key:
    """The key of ``factor`` times the expression keyed ``key`` (sympy keeps the number as the last entry)."""
    return (*key[:3], key[3] * factor)


def _exp_key(arg: Key) -> Key:
    return ((4, 10, "exp"), (1, (arg,)), _ONE, 1)


class SortKeys(dict):
    """Node -> sort key, as the printer computes them in topological order, with each key's depth beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[Node, int] = {}

    def add(self, node: Node, terms: list[Node] | None = None) -> None:
        """Key ``node`` (its operands keyed already; a sum's ordered ``terms`` if known).

        A key nests its operands' keys, so its depth is the expression's: past
        :data:`MAX_DEPTH` levels it is cut to the node's class and hash (Python
        compares nested tuples recursively, and a 3,000-deep ``sin(sin(...))`` would
        exceed the recursion limit; no reader orders terms by their 30th level).
        """
        key = sort_key(node, self, terms)
        depth = 1 + max((self.depth[a] for a in node.args), default=0)
        if depth > MAX_DEPTH:
            key, depth = (key[0], (0, (node.key,)), _ONE, 1), 1
        self[node], self.depth[node] = key, depth

    def bind(self, node: Node, name: str) -> None:
        """``node`` now prints as the symbol ``name`` (a let-binding): its users order it as that symbol."""
        self[node], self.depth[node] = symbol_key(name), 1


def sort_key_of(node: Node) -> Key:
    """sympy's sort key of one expression (its operands keyed first, in topological order)."""
    keys = SortKeys()
    for n in toposort([node]):
        keys.add(n)
    return keys[node]


MAX_DEPTH = 30
"""Deepest nesting of a sort key, in expression levels."""


def sort_key(node: Node, keys: dict[Node, Key], terms: list[Node] | None = None) -> Key:
    """sympy's ``default_sort_key`` of ``node``, its operands' keys in ``keys`` (a sum's ordered ``terms`` if known)."""
    op = node.op
    if op == "const":
        return number_key(node.value)
    if op == "sym":
        return symbol_key(node.name)
    if op == "custom" and not node.args:  # a named constant (pi, E)
        name = node.value.name
        return (_NAMED.get(name, _SYMBOL), (1, (name,)), _ONE, 1)
    args = node.args
    if op == "mul":
        coeff, rest = (args[0].value, args[1:]) if args[0].op == "const" else (1, args)
        if len(rest) == 1:
            return _scaled(keys[rest[0]], coeff)
        return (_MUL, (len(rest), tuple(sorted(keys[f] for f in rest))), _ONE, coeff)
    if op == "pow":
        base, expo = args
        return (*_core(base, keys), keys[expo], 1)
    if op == "add":
        terms = ordered_terms(node, keys) if terms is None else terms
        return (_ADD, (len(args), tuple(keys[t] for t in terms)), _ONE, 1)
    return (_function_class(node), (len(args), tuple(keys[a] for a in args)), _ONE, 1)


def _core(base: Node, keys: dict[Node, Key]) -> tuple:
    """The class and operands part of a power's key for ``base``, as sympy's ``Pow.sort_key`` takes its base whole.

    An atom keys by its text; a product by all its factors, its number among them
    (``(2*x)**y`` is a ``Mul`` of 2 and x, where the key of ``2*x`` is x's with 2 beside);
    a power by its base and exponent (``(x**2)**y`` is a ``Pow``, not an x).
    """
    if base.op == "const":
        return (_NUMBER, (1, (format_number(base.value),)))
    key = keys[base]
    if key[1][0] == 0:  # a key cut at MAX_DEPTH: its class and hash stand for it
        return key[:2]
    if base.op == "mul":
        return (_MUL, (len(base.args), tuple(sorted(keys[f] for f in base.args))))
    if base.op == "pow":
        return (_POW, (2, tuple(keys[a] for a in base.args)))
    return key[:2]


def ordered_factors(factors: list[Node], keys: dict[Node, Key]) -> list[Node]:
    """A product's factors in sympy's order (``Mul.as_ordered_factors``)."""
    return sorted(factors, key=keys.__getitem__)


def _is_number(node: Node) -> bool:
    """Whether ``node`` is a number or a named constant (sympy's ``Number`` or ``NumberSymbol``)."""
    return node.op == "const" or (node.op == "custom" and not node.args)


def ordered_terms(node: Node, keys: SortKeys) -> list[Node]:
    """A sum's terms in sympy's order (``Expr.as_ordered_terms``)."""
    terms = list(node.args)
    if len(terms) == 2:  # sympy's special case: a positive number leads -c*t (1 - x, 2 - 3*x**2)
        number, other = sorted(terms, key=lambda t: not _is_number(t))
        if (
            _is_number(number)
            and number_of(number) > 0
            and other.op == "mul"
            and len(other.args) == 2
            and other.args[0].op == "const"
            and other.args[0].value < 0
        ):
            return [number, other]
    described = [_monomial(t, keys) for t in terms]
    bases: dict[object, Key] = {}  # a base's identity (a node, or what a virtual base is made of) -> its key
    for _, powers in described:
        for ident, (key, _) in powers.items():
            bases[ident] = key
    index = {ident: i for i, ident in enumerate(sorted(bases, key=bases.__getitem__))}

    def term_key(i: int) -> tuple:
        coeff, powers = described[i]
        return (
            _lex_key(sorted((index[ident], -e) for ident, (_, e) in powers.items())),
            (),
            ((False, 0.0), (coeff, 0.0)),
        )

    return [terms[i] for i in sorted(range(len(terms)), key=term_key)]


def _lex_key(entries: list[tuple[int, Number]]) -> tuple:
    """A key ordering sparse vectors (sorted ``(index, value)`` entries, values not 0) as their dense forms compare.

    sympy compares dense exponent vectors, one entry per base of the sum: a sum of n
    terms in n bases would cost n**2.  At the first entry two sparse vectors differ
    in, the one with a negative value at the lower index is smaller (the other has 0
    there), one with a positive value larger; the end reads as 0.
    """
    return (*((0, i, v) if v < 0 else (2, -i, v) for i, v in entries), (1,))


Power = tuple  # (the base's key, the integer exponent)


def _monomial(term: Node, keys: SortKeys) -> tuple[float, dict[object, Power]]:
    """A term's number (factors without symbols multiplied in) and its powers by base (``Expr.as_terms``).

    Bases are told apart by identity, not by their keys: a key hashes by walking its
    whole nested tuple, which for a shared graph is the size of its text.
    """
    coeff: float = 1.0
    factors = term.args if term.op == "mul" else (term,)
    powers: dict[object, Power] = {}
    for f in factors:
        value = number_of(f)  # a number, or one made of named constants (2*z/(3*pi): z's number is 2/(3*pi))
        if value is not None:
            coeff *= value
            continue
        ident, key, e = _decomposed(f, keys)
        powers[ident] = (key, e)
    return coeff, powers


def _core_ident(node: Node) -> tuple:
    """What ``node`` is without its number (``2*x`` and ``x`` give ``(x,)``): a virtual base's identity."""
    if node.op == "mul" and node.args[0].op == "const":
        return node.args[1:]
    return (node,)


def _decomposed(factor: Node, keys: dict[Node, Key]) -> tuple[object, Key, Number]:
    """sympy's ``decompose_power``: the factor as base**e (identity, key, e), e an integer where the exponent allows."""
    if factor.op == "exp":
        return _exp_decomposed(factor.args[0], keys, 1)
    if factor.op != "pow":
        return factor, keys[factor], 1
    base, expo = factor.args  # (an integer power of exp is built as exp of the multiple: exp(2*x), below)
    core = _core(base, keys)
    if expo.op == "const":
        e = expo.value
        if e.__class__ is int:
            return base, keys[base], e
        if isinstance(e, Fraction):  # x**(3/2) is sqrt(x)**3
            return ("root", base, e.denominator), (*core, number_key(Fraction(1, e.denominator)), 1), e.numerator
        return factor, keys[factor], 1
    k = keys[expo][3]
    if isinstance(k, (int, Fraction)):  # x**(2*y) is (x**y)**2, x**(-y) is (x**y)**-1
        if base.op == "const" and isinstance(base.value, Fraction) and base.value.numerator == 1:
            # sympy's Pow.as_base_exp reads (1/2)**z as 2**(-z): its base is 2**z, to the power -1
            base, k = const(base.value.denominator), -k
            core = _core(base, keys)
        p = -1 if k == -1 else Fraction(k).numerator
        return ("pow", base, _core_ident(expo), k / p), (*core, (*keys[expo][:3], Fraction(k) / p), 1), p
    return factor, keys[factor], 1


def _exp_decomposed(arg: Node, keys: dict[Node, Key], scale: Number) -> tuple[object, Key, Number]:
    """exp(scale*arg) as exp(t)**p (``exp(-x)`` is ``exp(x)**-1``, ``exp(2*x)`` ``exp(x)**2``)."""
    key = keys[arg]
    k = key[3] * scale
    p = 1
    if isinstance(k, (int, Fraction)) and k != 1:
        p = -1 if k == -1 else Fraction(k).numerator
    return ("exp", _core_ident(arg), k / p), _exp_key(_scaled(key, Fraction(1, p) * scale)), p
