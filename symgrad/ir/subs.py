"""sympy's ``subs`` on symgrad expressions and arrays of them: ``e.subs(x, 2)``, ``e.subs({x: 2})``.

sympy applies the pairs of a substitution one after another (``(x + y).subs([(x,
y), (y, 2)])`` is 4); a dict or set is first put in sympy's order (larger keys
first, then by name); ``simultaneous=True`` replaces all keys at once.  Keys are
matched structurally (hash-consing makes that an identity test): a symbol, its
name, an array symbol (paired element by element with an array value), or any
subexpression; a sum or product key also inside larger sums and products, as
sympy matches them.  Every rebuilt node goes through the simplifying builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

from ..errors import InputError, ShapeError, TraceError
from . import builders as B
from .node import Node, symbol, toposort

_USAGE = "subs takes (old, new), a dict {old: new} or a list of (old, new) pairs"


def subs(roots: Sequence[Node], args: tuple, kwargs: dict) -> list[Node]:
    """``roots`` with the substitution ``args`` (sympy's forms) applied, in sympy's order."""
    simultaneous = kwargs.pop("simultaneous", False)
    if kwargs:
        raise InputError(f"subs got an unknown keyword {next(iter(kwargs))!r}; it takes simultaneous=True or False")
    pairs = _expanded(_pairs(args))
    keys = {k for k, _ in pairs}
    independent = all(k.op == "sym" for k in keys) and not any(
        n in keys for _, v in pairs for n in toposort([v]) if n.op == "sym"
    )
    if simultaneous or independent:  # one pass gives what the sequence would
        return replace(roots, dict(reversed(pairs)) if not simultaneous else dict(pairs))
    out = list(roots)
    for k, v in pairs:
        out = replace(out, {k: v})
    return out


def _pairs(args: tuple) -> list[tuple[object, object]]:
    if len(args) == 2:
        return [args]
    if len(args) != 1:
        raise InputError(f"{_USAGE}, got {len(args)} arguments")
    (spec,) = args
    if isinstance(spec, Mapping):
        return sorted(spec.items(), key=lambda kv: _order(kv[0]))
    if isinstance(spec, (set, frozenset, list, tuple)):
        items = list(spec)
    else:
        raise InputError(f"{_USAGE}, got a {type(spec).__name__}")
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InputError(f"{_USAGE}; {item!r} is not an (old, new) pair")
    if isinstance(spec, (set, frozenset)):
        items.sort(key=lambda kv: _order(kv[0]))
    return [tuple(kv) for kv in items]


def _order(key) -> tuple:
    """sympy's order for unordered substitutions: more nodes first, then by printed name."""
    if isinstance(key, Node):
        return (-len(toposort([key])), str(key))
    return (0, str(key))


def _expanded(pairs: list) -> list[tuple[Node, Node]]:
    """Each pair as (node, node); an array key pairs element by element with its (broadcast) value."""
    out: list[tuple[Node, Node]] = []
    for old, new in pairs:
        if isinstance(old, (np.ndarray, list)) and not isinstance(old, str):
            keys = np.asarray(old, dtype=object)
            try:
                values = np.broadcast_to(np.asarray(new, dtype=object), keys.shape)
            except ValueError:
                raise ShapeError(
                    f"subs: the value for an array of shape {keys.shape} has shape {np.shape(new)}"
                ) from None
            out += [(_key(k), _value(v, k)) for k, v in zip(keys.flat, values.flat)]
        else:
            out.append((_key(old), _value(new, old)))
    return out


def _key(old) -> Node:
    if isinstance(old, str):
        if not old.isidentifier():
            raise InputError(f"subs: a string key names a symbol, got {old!r} (build other keys as expressions)")
        return symbol(old)
    try:
        return B.as_node(old)
    except TraceError:
        raise InputError(
            f"subs: cannot replace a {type(old).__name__} ({old!r}); keys are symbols or expressions"
        ) from None


def _value(new, old) -> Node:
    if isinstance(new, np.ndarray) and new.shape == ():
        new = new[()]
    if isinstance(new, (np.ndarray, list, tuple)):
        raise ShapeError(f"subs: {old} is a scalar, but its value is an array of shape {np.shape(new)}")
    try:
        return B.as_node(new)
    except TraceError:
        raise InputError(
            f"subs: the value for {old} must be a number or a symgrad expression, got {type(new).__name__} "
            "(a formula string goes through sg.parse_formula first)"
        ) from None


def replace(roots: Sequence[Node], mapping: dict[Node, Node]) -> list[Node]:
    """The roots with each node of ``mapping`` replaced (sharing kept, rebuilt by the builders).

    A key found as a node is replaced whole; a sum or product key also inside
    larger sums and products, as sympy's ``subs`` matches algebraically:
    ``(a + b + c).subs(a + b, d)`` is ``c + d``, ``(x*y*z).subs(x*y, 2)`` is
    ``2*z``, ``(x**4).subs(x**2, y)`` is ``y**2``.
    """
    sums = [(_sum_pattern(k), v) for k, v in mapping.items() if k.op == "add"]
    products = [(_factors(k), v) for k, v in mapping.items() if k.op in ("mul", "pow")]

    def replacement(node: Node, new: dict[Node, Node]) -> Node | None:
        hit = mapping.get(node)
        if hit is not None:
            return hit
        if node.op == "add":
            return next((r for k, v in sums if (r := _in_sum(node, k, v, new)) is not None), None)
        if node.op in ("mul", "pow"):
            return next((r for k, v in products if (r := _in_product(node, k, v, new)) is not None), None)
        return None

    return B.rewrite(roots, replacement if sums or products else lambda node, new: mapping.get(node))


def _split_sum(node: Node) -> tuple[object, frozenset[Node]]:
    """A sum as its number and its other terms."""
    if node.args[0].op == "const":
        return node.args[0].value, frozenset(node.args[1:])
    return 0, frozenset(node.args)


def _sum_pattern(old: Node) -> tuple[object, frozenset[Node], frozenset[Node]]:
    """A sum key as its number, its other terms, and those terms negated."""
    c_old, pattern = _split_sum(old)
    return c_old, pattern, frozenset(B.mul(-1, t) for t in pattern)


def _in_sum(node: Node, old: tuple, value: Node, new: dict[Node, Node]) -> Node | None:
    """``node`` (a sum) with the sum ``old`` replaced where its terms are among node's, as sympy's Add._eval_subs.

    The terms must match exactly (``2*a + 2*b`` does not hold ``a + b``), or all
    negated (``-b - c`` in ``a + b + c + d`` gives ``a + d - x``); the numbers are
    then moved across when both are exact, or must be equal.
    """
    c_self, terms = _split_sum(node)
    c_old, pattern, negated = old
    exact = isinstance(c_self, (int, Fraction)) and isinstance(c_old, (int, Fraction))
    if not exact and c_self != c_old:
        return None
    for sign, wanted in ((1, pattern), (-1, negated)):
        if wanted == terms and exact:
            return B.add(B.mul(sign, value), c_self, -sign * c_old)
        if len(wanted) < len(terms) and wanted < terms:
            rest = [new[t] for t in node.args if t in terms - wanted]
            return B.add(B.mul(sign, value), c_self, -sign * c_old, *rest)
    return None


def _factors(node: Node) -> tuple[object, dict[Node, object]]:
    """A product (or power) as its number and its factors' bases -> exponents.

    A base can be in two factors the builders keep apart (``sqrt(x)*x**(3/2)``:
    ``x**2`` would be defined for ``x < 0``); the second is then a factor whole,
    not an exponent that would overwrite the first's and drop that factor.
    """
    if node.op == "mul" and node.args[0].op == "const":
        coeff, factors = node.args[0].value, node.args[1:]
    else:
        coeff, factors = 1, node.args if node.op == "mul" else (node,)
    powers: dict[Node, object] = {}
    for f in factors:
        if f.op == "pow" and f.args[1].op == "const" and f.args[0] not in powers:
            powers[f.args[0]] = f.args[1].value
        else:
            powers[f] = 1
    return coeff, powers


def _in_product(node: Node, old: tuple, value: Node, new: dict[Node, Node]) -> Node | None:
    """``node`` with the product or power ``old`` taken out as many times as it goes in, as sympy's Mul/Pow subs.

    Each of old's bases must be in node with an exponent that is a whole positive
    multiple of old's, all of one sign (``x**2*y`` holds ``x*y`` once: ``x*z``; ``x**3`` does not hold
    ``x**2``; ``x**-2`` holds it -1 times: ``1/y``, ``1/(x*y)`` holds ``x*y`` -1 times); old's number must be 1 or node's,
    and one other than -1 goes in once (``2*x**2`` holds ``2*x`` once, as sympy's).
    """
    c_self, powers = _factors(node)
    c_old, pattern = old
    if c_old != 1 and c_old != c_self:
        return None
    times = None
    for base, e in pattern.items():
        have = powers.get(base)
        ratio = _whole_ratio(have, e)
        if ratio is None or (times is not None and (ratio < 0) != (times < 0)):
            return None
        times = ratio if times is None else min(times, ratio, key=abs)  # 1/(x**2*y**3) holds x*y -2 times
    if not times:
        return None
    if c_old in (1, -1):  # each time old goes in it takes its sign along: -x**3 is (-x)**3, -c/d**2 is -1/(-d)**2
        coeff = c_self * c_old ** abs(times)
    elif times < 1:
        return None
    else:  # old's number goes in once: 2*x**2 holds 2*x once (w*x), w**2 would be 4*x**2
        times, coeff = 1, 1
    rest = [B.pow(new[b], B.add(powers[b], B.mul(-times, pattern[b]))) for b in pattern]
    rest += [B.pow(new[b], e) for b, e in powers.items() if b not in pattern]
    return B.mul(coeff, B.pow(value, times), *rest)


def _whole_ratio(have, want) -> int | None:
    """``have / want`` where it is a whole number (exponents that are numbers), else None."""
    if have is None or isinstance(have, Node) or isinstance(want, Node) or not isinstance(have, (int, Fraction)):
        return None
    if not isinstance(want, (int, Fraction)) or want == 0:
        return None
    ratio = Fraction(have) / Fraction(want)
    return int(ratio) if ratio.denominator == 1 else None
