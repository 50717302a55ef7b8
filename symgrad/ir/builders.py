"""Simplifying node builders: local rewrite rules applied as nodes are built.

Every node the tracer, the differentiator or the sympy bridge creates goes
through these builders, so the graph is always in a canonical form:

- constants fold (exactly for integers and fractions, with numpy otherwise);
- ``add`` and ``mul`` are n-ary and flattened, like terms and like powers are
  collected (``x + x -> 2*x``, ``x*x -> x**2``, ``x - x -> 0``), a numeric
  coefficient multiplies a sum term by term (``2*(x + y) -> 2*x + 2*y``);
- identities: ``x + 0 -> x``, ``x*1 -> x``, ``x*0 -> 0``, ``x**1 -> x``,
  ``x**0 -> 1``, ``log(exp(x)) -> x``, and the op table's rewrites
  (``log(sigmoid(x)) -> -softplus(-x)``);
- powers combine only where the real domain stays the same: ``(x**a)**n ->
  x**(a*n)`` for integer n when a is an integer or a*n is not, and like powers
  as :func:`_like_powers` says, so ``sqrt(x)**2`` and ``x**0.5*x**0.5`` stay
  nan at negative x, as numpy computes them;
- commutative operands are sorted by their structural key, so equal
  expressions are the same node;
- a product with a select that has a zero branch moves inside the select
  (``where(c, a, 0)*p -> where(c, a*p, 0)``), selects on one condition
  merge in sums, and a sum (or the branches of a select) all guarded by one
  condition, at any nesting, is a select on it.  Derivatives are products of adjoints and local partials, so
  this keeps a nan or inf from the branch not taken out of every derivative.

Float caveat (as in sympy): ``x - x -> 0`` and ``0*x -> 0`` assume x is finite, and
combining integer powers (``x*x**-1 -> 1``, ``x**2*x**-1 -> x``, ``x**2*x**-0.5 ->
x**1.5``) drops a 0/0 or 0*inf at x = 0.  The README lists every such assumption.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from ..errors import TraceError, UnsupportedOpError
from .array import BooleanArray, SymbolicArray, boolean_array
from .node import Node, Number, const, float_value, make, normalize_number
from .ops import OPS

# A sum with more terms than this is kept as one term when it is added to, so a
# Python loop ``s = s + t`` costs linear, not quadratic, time; a product with more
# factors likewise stays one factor when it is multiplied (reverse mode along a chain).
FLATTEN_LIMIT = 8
# A number times a sum of at most this many terms distributes (``2*(x + y) -> 2*x + 2*y``,
# as sympy does); larger sums stay factored, or adjoint sums would be copied per use.
DISTRIBUTE_LIMIT = 4

_NUMBER_TYPES = (int, float, Fraction, np.integer, np.floating, np.bool_, bool)


def as_node(value) -> Node:
    """A node from a node or a real number; a clear error for anything else."""
    if value.__class__ is Node:
        return value
    if isinstance(value, _NUMBER_TYPES):
        return const(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return as_node(value.item())
    if isinstance(value, (complex, np.complexfloating)):
        raise TraceError(f"complex numbers are not supported (got {value!r})")
    raise TraceError(f"cannot use a value of type {type(value).__name__} in a symbolic expression")


def _term_key(node: Node) -> tuple[Number, object]:
    """``3*x*y -> (3, (x, y))``, ``2*x -> (2, x)``: a term's coefficient and what like terms share.

    The key is the term's coefficient-free factors (a tuple), or the factor
    itself when there is one, so collecting like terms creates no node: ``x*y``
    and ``3*x*y`` both key ``(x, y)``, as does ``3*p`` for a product ``p`` kept whole.
    """
    if node.op != "mul":
        return 1, node
    args = node.args
    if args[0].op != "const":
        return 1, args
    if len(args) == 2:
        rest = args[1]
        return args[0].value, (rest.args if rest.op == "mul" else rest)
    return args[0].value, args[1:]


def _num(value: Number) -> Number:
    return normalize_number(value)


def plus(a: Number, b: Number) -> Number:
    """``a + b`` of two constants' values, as float arithmetic reaches it when an exact one is past the float range.

    Python raises OverflowError adding a float to an int or Fraction beyond ~1.8e308 (``0.1 + 10**400``);
    float arithmetic gives the +-inf (or nan) that :func:`float_value` stands for.  The hot paths spell
    this inline (``try``/``except`` costs nothing until it raises).
    """
    try:
        return a + b
    except OverflowError:
        return float_value(a) + float_value(b)


def times(a: Number, b: Number) -> Number:
    """``a * b`` of two constants' values, as :func:`plus` adds them (``0.1 * 200!`` is inf, not OverflowError)."""
    try:
        return a * b
    except OverflowError:
        return float_value(a) * float_value(b)


_PLAIN_TERM_BLOCKERS = frozenset({"const", "add", "mul", "where"})
_SUM_BLOCKERS = frozenset({"const", "add", "where"})  # terms a sum flattens, folds or merges
_PLAIN_FACTOR_BLOCKERS = frozenset({"const", "add", "mul", "pow", "where"})


def _plain_product(a, b) -> Node | None:
    """Fast path: two distinct factors that nothing can combine just get sorted and interned."""
    if (
        a.__class__ is Node
        and b.__class__ is Node
        and a is not b
        and a.op not in _PLAIN_FACTOR_BLOCKERS
        and b.op not in _PLAIN_FACTOR_BLOCKERS
    ):
        return make("mul", (a, b) if a.key <= b.key else (b, a))
    return None


def _unlike_terms(a: Node, b: Node) -> bool:
    """True when ``a + b`` cannot collect: two terms (neither a constant, sum or select) with different factors."""
    if a.op in _SUM_BLOCKERS or b.op in _SUM_BLOCKERS:
        return False
    return not _same_term(_term_key(a)[1], _term_key(b)[1])


def _same_term(ka: object, kb: object) -> bool:
    """Whether two term keys (see :func:`_term_key`) are the same factors."""
    if ka.__class__ is Node or kb.__class__ is Node:
        return ka is kb
    return len(ka) == len(kb) and all(p is q for p, q in zip(ka, kb))


def add(*xs) -> Node:
    """The canonical n-ary sum."""
    if len(xs) == 2 and (pair := _two_terms(*xs)) is not None:
        return pair
    return _collected([x if x.__class__ is Node else as_node(x) for x in xs])


def _two_terms(a, b) -> Node | None:
    """Fast paths of ``a + b`` (None: take the general path): unlike terms, two numbers, a sum plus a new term."""
    if a.__class__ is Node and b.__class__ is Node:
        if _unlike_terms(a, b):  # nothing to collect or flatten
            return make("add", (a, b) if a.key <= b.key else (b, a))
        if a.op == "const" or b.op == "const":
            c, t = (a, b) if a.op == "const" else (b, a)
            if t.op == "const":  # two numbers fold (the power rule's expo - 1)
                return const(_num(plus(a.value, b.value)))
            if t.op not in _SUM_BLOCKERS:  # a number and a term (1 - x)
                return t if c.value == 0 else make("add", (c, t))
        if a.op == "add" or b.op == "add":
            return _joined(a, b)
    return None


def _joined(a: Node, b: Node) -> Node | None:
    """``a + b`` with a sum among them when nothing collects or merges (else None): the terms of both, in order.

    A sum of more than FLATTEN_LIMIT terms counts as one term, as in the general
    path.  A traced loop ``s = s + t`` and reverse mode's adjoint sums add one term
    at a time, a traced ``sum()`` a short sum to a growing one (Rosenbrock's
    ``100*(...)**2 + (1 - x)**2``): nothing collects, and the result is both sets of terms,
    at most one number (first) and no select (selects merge), which is what the
    general path builds.
    """
    left = a.args if a.op == "add" and len(a.args) <= FLATTEN_LIMIT else (a,)
    right = b.args if b.op == "add" and len(b.args) <= FLATTEN_LIMIT else (b,)
    constant = None
    terms: list[Node] = []
    seen = set()
    for side in (left, right):
        for u in side:
            if u.op == "const":
                if u.value == 0:  # x + 0 -> x (a canonical sum holds no 0)
                    continue
                if constant is not None:
                    return None  # two numbers to fold
                constant = u
                continue
            if u.op == "where":
                return None
            k = _term_key(u)[1]  # the keys the general path collects by
            if k in seen:
                return None  # like terms collect
            seen.add(k)
            terms.append(u)
    if len(terms) + (constant is not None) < 2:  # 0 + s is s itself
        return None
    terms.sort(key=_key)
    if constant is not None:
        terms.insert(0, constant)
    return make("add", tuple(terms))


def add_scaled(parts: Sequence) -> Node:
    """The sum of ``parts``, each a node or a pair ``(c, t)`` for the term ``c*t`` (``c`` a constant node).

    ``add(*terms)`` of the products built first gives the same node (both take the
    same general path, :func:`_collected`): reverse mode's adjoint sums pass their
    numbers this way, so a term that collects with another (``2*x + 200*x ->
    202*x``) is never built alone.  A number distributes over a short sum as
    :func:`scaled_terms` says, term by term, and is multiplied in first where the
    product does more than rescale the term (a constant folds, a select takes the
    number in, a product kept whole).
    """
    if len(parts) == 2 and (pair := _two_terms(*parts)) is not None:  # two nodes (a pair is a tuple)
        return pair
    return _collected(parts)


def _collected(parts: Sequence) -> Node:
    """:func:`add_scaled`'s general path: collect like terms, then build the canonical sum."""
    total: Number = 0
    coeffs: dict[object, Number] = {}  # by _term_key
    originals: dict[object, Node | tuple | None] = {}  # the term as given while it appears once (a pair: built later)
    for part in parts:
        if part.__class__ is tuple:
            c, t = part
            if c.value == 1:
                part = t
            elif _distributes(c, t):
                items = [(c, u) for u in t.args]
            else:
                items = (part,)
        if part.__class__ is Node:
            items = part.args if part.op == "add" and len(part.args) <= FLATTEN_LIMIT else (part,)
        for item in items:
            if item.__class__ is tuple:
                c, u = item
                if u.op in _PAIR_EAGER or c.value == 0 or (u.op == "mul" and len(u.args) > FLATTEN_LIMIT):
                    item = mul(c, u)
                else:
                    k, key = _term_key(u)
                    k = _num(times(c.value, k))  # the coefficient mul(c, u) gives u's factors
                    if k == 0:  # mul(c, u) is the number 0 (an underflow)
                        continue
            if item.__class__ is Node:
                if item.op == "const":
                    try:
                        total = total + item.value
                    except OverflowError:  # a float and an exact number past the float range (see plus)
                        total = plus(total, item.value)
                    continue
                k, key = _term_key(item)
            if key in coeffs:
                coeffs[key] = plus(coeffs[key], k)
                originals[key] = None
            else:
                coeffs[key] = k
                originals[key] = item
    return _sum_of(total, coeffs, originals)


_PAIR_EAGER = frozenset({"const", "where"})  # terms a number is multiplied into before collecting: folds, selects


def _sum_of(total: Number, coeffs: dict[object, Number], originals: dict[object, Node | tuple | None]) -> Node:
    """The canonical sum of a number and collected terms (by :func:`_term_key`), each unchanged one reused."""
    terms, merged = _merge_selects(coeffs, originals)
    if any(m.op != "where" for m in merged):  # where(c, a, a) -> a, a number or a sum: collected with the rest
        return add(total, *terms, *merged)
    terms += merged
    terms.sort(key=_key)
    total = _num(total)
    if total == 0 and len(terms) > 1 and terms[0].op == "where":
        guard = _common_guard(terms)
        if guard is not None:  # each term is 0 unless guard holds: so is the sum, a select that takes products in
            return where(guard, add(*(_unguarded(t, guard) for t in terms)), 0)
    if total != 0 or isinstance(total, float) and math.isnan(total):
        terms.insert(0, const(total))
    if not terms:
        return const(0)
    if len(terms) == 1:
        return terms[0]
    return make("add", tuple(terms))


def _merge_selects(
    coeffs: dict[object, Number], originals: dict[object, Node | tuple | None]
) -> tuple[list[Node], list[Node]]:
    """Build the terms, merging ``where(c, a, b) + where(c, d, e) -> where(c, a+d, b+e)``: the other terms, the merged.

    A merged select may simplify to no select at all (``where(c, x, 0) + where(c, -x, 0)`` is
    ``where(c, 0, 0)``, which is 0): the caller collects it with the other terms again.
    """
    selects: dict[Node, list[Node]] = {}
    terms: list[Node] = []
    for key, c in coeffs.items():
        original = originals[key]
        select = key.__class__ is Node and key.op == "where"
        if original is not None and not select:  # appears once: the term as given, or a pair's c*t built now
            terms.append(original if original.__class__ is Node else _scaled_term(c, key))  # (c normalized)
            continue
        c = _num(c)
        if c == 0:
            continue
        term = _scaled_term(c, key)  # a select collected twice (2*w) takes its number in: still a select
        if term.op == "where":
            selects.setdefault(term.args[0], []).append(term)
            continue
        terms.append(term)
    merged: list[Node] = []
    for cond, group in selects.items():
        if len(group) == 1:
            terms.append(group[0])
        else:
            merged.append(where(cond, add(*(g.args[1] for g in group)), add(*(g.args[2] for g in group))))
    return terms, merged


def _scaled_term(c: Number, key: object) -> Node:
    """``c`` (not 0) times the term a key stands for, the node ``mul(c, term)`` builds, without building the term.

    A product's factors (a tuple key) take the number as their coefficient; a
    factor the number would fold into, distribute over or move inside goes
    through :func:`mul`.
    """
    if key.__class__ is Node:
        if c == 1:
            return key
        if key.op in _PLAIN_TERM_BLOCKERS:
            return mul(c, key)
        return make("mul", (const(c), key))
    if c == 1:
        return make("mul", key)
    if len(key) <= FLATTEN_LIMIT:
        return make("mul", (const(c), *key))
    return mul(c, make("mul", key))


def _key(node: Node) -> int:
    return node.key


def _rescaled(c: Node, b: Node) -> Node | None:
    """``c * b`` for a constant ``c`` when only ``b``'s coefficient changes (None: take the general path).

    Reverse mode multiplies adjoints by constant partials all the time (``0.9 * (0.5*x)``,
    ``(g1 + ... + g8) * 0.9``): the result is ``b``'s factors under a new coefficient.
    """
    if b.op == "mul" and len(b.args) <= FLATTEN_LIMIT:
        args = b.args
        k, rest = (times(c.value, args[0].value), args[1:]) if args[0].op == "const" else (c.value, args)
    elif b.op == "add" and len(b.args) > DISTRIBUTE_LIMIT:
        k, rest = c.value, (b,)
    else:
        return None
    k = _num(k)
    if k == 0:
        return const(0)
    if k == 1:
        return rest[0] if len(rest) == 1 else make("mul", rest)
    return make("mul", (const(k), *rest))


def _extended(p: Node, f: Node) -> Node | None:
    """``p * f`` for a product ``p`` of at most FLATTEN_LIMIT factors and a plain factor ``f`` it lacks (else None).

    Reverse mode multiplies an adjoint product by one local partial per step
    (``(0.45*t) * cos(y)``): nothing combines, so the result is ``p``'s factors
    with ``f`` put in order, which is what the general path below builds.
    """
    args = p.args
    if len(args) > FLATTEN_LIMIT:
        return None
    for g in args:
        if g is f or (g.op == "pow" and g.args[0] is f):
            return None
    coeff = args[0] if args[0].op == "const" else None
    factors = sorted((*(args[1:] if coeff is not None else args), f), key=_key)
    if coeff is not None:
        factors.insert(0, coeff)
    return make("mul", tuple(factors))


_PAIR_BLOCKERS = frozenset({"const", "mul", "pow", "where"})  # factors a product flattens, folds or combines


def _scaled_pair(c, a, b) -> Node | None:
    """Fast path: ``c*a*b`` for a number ``c`` (not 0 or 1) and two distinct factors nothing combines (else None).

    Reverse mode's term for an operand is a carried number times an adjoint times
    a local partial: the result is the product of the three, the number first
    and the others sorted, which is what the general path builds (a sum among two
    factors is a factor: a number distributes over a sum only when it is alone).
    """
    if (
        c.__class__ is Node
        and c.op == "const"
        and a.__class__ is Node
        and b.__class__ is Node
        and a is not b
        and a.op not in _PAIR_BLOCKERS
        and b.op not in _PAIR_BLOCKERS
        and c.value != 0
        and c.value != 1
    ):
        return make("mul", (c, a, b) if a.key <= b.key else (c, b, a))
    return None


def mul(*xs) -> Node:
    """The canonical n-ary product."""
    if len(xs) == 2:
        a, b = xs
        if (pair := _plain_product(a, b)) is not None:
            return pair
        a = a if a.__class__ is Node else as_node(a)
        b = b if b.__class__ is Node else as_node(b)
        if a.op != "const" and b.op == "const":
            a, b = b, a
        if a.op == "const" and b.op != "const":
            if b.op not in _PLAIN_TERM_BLOCKERS:  # fast path: coefficient * factor
                if a.value == 1:
                    return b
                if a.value != 0:
                    return make("mul", (a, b))
            elif (scaled := _rescaled(a, b)) is not None:
                return scaled
            elif _distributes(a, b):  # a short sum
                return _distributed(a, b)
        elif a.op == "mul" or b.op == "mul":  # an adjoint product times a local partial
            product, factor = (a, b) if a.op == "mul" else (b, a)
            extended = None if factor.op in _PLAIN_FACTOR_BLOCKERS else _extended(product, factor)
            if extended is not None:
                return extended
    elif len(xs) == 3 and (scaled := _scaled_pair(*xs)) is not None:
        return scaled
    elif len(xs) == 1 and xs[0].__class__ is Node:
        return xs[0]
    coeff: Number = 1
    powers: dict[Node, list] = {}
    whole: set[Node] = set()  # products of more than FLATTEN_LIMIT factors, kept as one factor
    stack = [x if x.__class__ is Node else as_node(x) for x in xs]
    while stack:
        node = stack.pop()
        if node.op == "const":
            try:
                coeff = coeff * node.value
            except OverflowError:  # a float and an exact number past the float range (see plus)
                coeff = times(coeff, node.value)
        elif node.op == "mul" and len(node.args) <= FLATTEN_LIMIT:
            stack.extend(node.args)
        elif node.op == "mul":
            # not copied into this product: reverse mode multiplies an adjoint by one partial per step,
            # and flattening would rebuild the whole chain of factors at every step (quadratic)
            if node.args[0].op == "const":
                coeff = times(coeff, node.args[0].value)
                node = node.args[1] if len(node.args) == 2 else make("mul", node.args[1:])
            whole.add(node)
            powers.setdefault(node, []).append(1)
        else:
            base, expo = (node.args[0], node.args[1]) if node.op == "pow" else (node, 1)
            if expo.__class__ is Node and expo.op == "const":
                expo = expo.value
            powers.setdefault(base, []).append(expo)
    coeff = _num(coeff)
    if coeff == 0:
        return const(coeff if not powers else 0)  # a product of numbers keeps the sign of a zero (2 * -0.0)
    parts: list[Node] = []
    regroup = False
    for base, expos in powers.items():
        for p in _like_powers(base, expos):
            if p.op == "const" or (p.op == "mul" and p not in whole):
                regroup = True
            parts.append(p)
    if regroup:
        return mul(coeff, *parts)
    parts.sort(key=_key)  # before the select rule below: which select takes the product in is then canonical
    for i, p in enumerate(parts):
        if p.op == "where" and _has_zero_branch(p) and (len(parts) > 1 or coeff != 1):
            others = parts[:i] + parts[i + 1 :]
            return where(p.args[0], mul(coeff, p.args[1], *others), mul(coeff, p.args[2], *others))
    if not parts:
        return const(coeff)
    if len(parts) == 1:
        if coeff == 1:
            return parts[0]
        if _distributes(c := const(coeff), parts[0]):
            return _distributed(c, parts[0])
    if coeff != 1:
        parts.insert(0, const(coeff))
    return make("mul", tuple(parts))


def _distributes(c: Node, b: Node) -> bool:
    """The rule "a number times a short sum distributes" (``2*(x + y) -> 2*x + 2*y``, as sympy), spelled once.

    :func:`mul` then builds the scaled terms' sum (:func:`_distributed`), and a sum
    of ``(c, b)`` pairs (:func:`add_scaled`) collects ``b``'s terms scaled, without
    first building the sum ``c*b`` distributes into, which it would flatten at once.
    An infinite number stays outside, as in sympy (``oo*(x + 1)``): ``inf*(x - 1)``
    is inf at ``x = 2``, ``inf*x - inf`` nan.
    """
    return (
        b.op == "add"
        and len(b.args) <= DISTRIBUTE_LIMIT
        and c.value != 0
        and c.value != 1
        and c.value != math.inf
        and c.value != -math.inf
    )


def scaled_terms(c: Node, b: Node) -> list[Node]:
    """What :func:`add` takes in from ``c*b`` (``c`` a constant): the terms ``c*t`` of a short sum ``b``, else ``c*b``."""
    return [mul(c, t) for t in b.args] if _distributes(c, b) else [mul(c, b)]


def _distributed(c: Node, s: Node) -> Node:
    """``c*s`` for a number ``c`` (not 0 or 1) and a short sum ``s``: ``add(*scaled_terms(c, s))``, built directly.

    Scaling keeps each term's key (``3*x*y`` and ``x*y`` key alike), and a canonical
    sum's keys are distinct, so nothing collects: the scaled terms, sorted, are the
    sum, unless a term folds to 0 or is a select (which the general path merges).
    A traced ``0.9*y`` of a short sum ``y`` distributes at every step of a loop.
    """
    terms = scaled_terms(c, s)
    constant = None
    rest: list[Node] = []
    for t in terms:
        if t.op == "const" and t.value != 0:
            constant = t
        elif t.op in _SUM_BLOCKERS:  # a term gone to 0 (underflow), a select, a sum: the general path decides
            return add(*terms)
        else:
            rest.append(t)
    if len(rest) + (constant is not None) < 2:
        return add(*terms)
    rest.sort(key=_key)
    if constant is not None:
        rest.insert(0, constant)
    return make("add", tuple(rest))


def _like_powers(base: Node, expos: list) -> list[Node]:
    """The factors ``base**e`` for each ``e`` in ``expos``, combined only where that keeps the real domain.

    ``x**p * x**r -> x**(p + r)`` holds for every real x where the left side is
    defined, but may define it where it is not: ``x**0.5 * x**0.5 -> x`` would
    give -3 at x = -3, where numpy gives nan.  So numeric exponents combine
    when all are integers (exact for every real x; ``x*x**-1 -> 1`` only drops
    the 0/0 at x = 0, a finite-value assumption) or when the non-integer ones
    sum to a non-integer (then ``x**(p + r)`` keeps the domain x >= 0).  Equal
    non-integer exponents with an integer sum become ``(x**p)**k``; symbolic
    exponents combine only on a positive constant base (``2**y * 2**z``).
    """
    if len(expos) == 1:
        e = expos[0]
        return [base] if e.__class__ is int and e == 1 else [pow(base, e)]
    if base.op == "const" and base.value > 0:
        return [pow(base, add(*expos))]
    if all(e.__class__ is int for e in expos):  # x*x, x**2*x**-1: integer powers combine (the common case)
        return [pow(base, sum(expos))]
    numbers = [e for e in expos if not isinstance(e, Node)]
    fractional = [e for e in numbers if not _is_integer(e)]
    integral = functools.reduce(plus, [e for e in numbers if _is_integer(e)], 0)
    out: list[Node] = []
    total = _num(functools.reduce(plus, fractional, integral))
    if fractional and is_fractional(_num(functools.reduce(plus, fractional))) and is_fractional(total):
        out.append(pow(base, total))
    else:
        if len(fractional) < len(numbers):
            out.append(pow(base, _num(integral)))
        out += _repeated(base, fractional)
    return out + _repeated(base, [e for e in expos if isinstance(e, Node)])


def _repeated(base: Node, expos: list) -> list[Node]:
    """``x**p`` k times as ``(x**p)**k``: the power is taken first, so its domain is kept."""
    counts: dict = {}
    for e in expos:
        counts[e] = counts.get(e, 0) + 1
    return [pow(base, e) if k == 1 else pow(pow(base, e), k) for e, k in counts.items()]


def _minus_taken_out(a: Node) -> Node | None:
    """``-a`` where sympy takes the minus sign out of an odd or even function's operand, else None.

    sympy's ``could_extract_minus_sign``: a product with a negative number
    (``-2*x``); a sum with more negative terms than positive ones (``-x - y``), or
    as many, when ``a`` sorts before ``-a`` in sympy's order (``y - x``, not ``x - y``).
    A sum the minus sign does not distribute over (more than DISTRIBUTE_LIMIT terms)
    keeps it: ``-a`` would be a product, whose own sign would be taken out again.
    """
    op = a.op
    if op == "mul":
        return mul(-1, a) if a.args[0].op == "const" and a.args[0].value < 0 else None
    if op != "add":
        return None
    negative = 0
    for t in a.args:  # a plain loop: every sin and cos a trace or a sweep builds asks this
        c = t if t.op == "const" else t.args[0] if t.op == "mul" else None
        if c is not None and c.op == "const" and c.value < 0:
            negative += 1
    if 2 * negative < len(a.args):
        return None
    flipped = mul(-1, a)
    if flipped.op != "add":
        return None
    if 2 * negative > len(a.args):
        return flipped
    from .print_order import sort_key_of  # print_order reads number_of from here: imported once needed

    return flipped if sort_key_of(a) < sort_key_of(flipped) else None


def _is_zero(node: Node) -> bool:
    return node.op == "const" and node.value == 0


def is_fractional(value) -> bool:
    """Whether a number is a finite non-integer: ``x**value`` is then nan at every negative x, as ``x**0.5`` is.

    A product of exponents past the float range (``0.1 * 10**400``) is inf, and ``x**inf`` is a number at
    negative x, so it would widen the domain as an integer exponent would.
    """
    return not _is_integer(value) and not (value.__class__ is float and math.isinf(value))


def _has_zero_branch(select: Node) -> bool:
    return _is_zero(select.args[1]) or _is_zero(select.args[2])


_GUARD_DEPTH = 8  # how deep the selects of one term are searched for a guard


def _guards(node: Node, depth: int = _GUARD_DEPTH) -> set[Node]:
    """The conditions ``c`` for which ``node`` is ``where(c, t, 0)`` for some ``t`` (see :func:`_unguarded`)."""
    if node.op != "where" or depth == 0:
        return set()
    c, a, b = node.args
    if _is_zero(b):
        return {c} | _guards(a, depth - 1)
    if _is_zero(a):
        return _guards(b, depth - 1)
    return _guards(a, depth - 1) & _guards(b, depth - 1)


def _unguarded(node: Node, guard: Node) -> Node:
    """``t`` with ``node == where(guard, t, 0)``, for a ``guard`` among ``_guards(node)``: the select on it dropped."""
    if _is_zero(node):
        return node
    c, a, b = node.args
    if c is guard and _is_zero(b):
        return a
    return where(c, _unguarded(a, guard), _unguarded(b, guard))


def _common_guard(terms: list[Node]) -> Node | None:
    """A condition every term is guarded by (the one with the least key), else None.

    ``where(x > 0, where(y > 0, a, 0), 0) + where(y > 0, b, 0)`` is ``where(y > 0, ..., 0)``:
    the sum of a derivative's selects nested in other orders is one select again, so a
    factor it is multiplied by (a partial nan where y <= 0) moves inside it.
    """
    common: set[Node] | None = None
    for t in terms:
        if t.op != "where":
            return None
        found = _guards(t)
        common = found if common is None else common & found
        if not common:
            return None
    return min(common, key=_key)


def _is_integer(value) -> bool:
    if isinstance(value, Node):
        return False
    if isinstance(value, (int, Fraction)):  # exact, possibly beyond float range
        return Fraction(value).denominator == 1
    return float(value).is_integer()


def pow(base, expo) -> Node:
    """The canonical power ``base**expo``."""
    base = as_node(base)
    expo = as_node(expo)
    if expo.op == "const":
        e = expo.value
        if e == 0:
            return const(1)
        if e == 1:
            return base
        if base.op == "const":
            return _fold_pow(base.value, e)
        if base.op == "pow" and base.args[1].op == "const" and _is_integer(e):
            # (x**p)**n -> x**(p*n), n an integer: only if p is an integer or p*n is not (so the
            # domain stays x >= 0); (x**0.5)**2 -> x would widen it to negative x.
            p = base.args[1].value
            pe = _num(times(p, e))
            if _is_integer(p) or is_fractional(pe):
                return pow(base.args[0], pe)
        if base.op == "exp" and e.__class__ is int:
            # exp(t)**k -> exp(k*t), as sympy writes exp(x)**2 and 1/exp(x): exp(t) > 0, so for every real t,
            # and exp(-t) keeps the digits 1/exp(t) loses past exp's overflow (a subnormal, not 0, at t = 720)
            return call("exp", mul(e, base.args[0]))
        if base.op == "pow" and base.args[1].op != "const" and e == -1:
            # (x**y)**-1 -> x**(-y): the same domain (x**y and x**(-y) are defined together), and the text
            # x/y**z (as sympy prints x*y**(-z)) reads back as the node it came from
            return pow(base.args[0], mul(-1, base.args[1]))
        if base.op == "mul" and _is_integer(e) and len(base.args) <= FLATTEN_LIMIT:
            return mul(*(pow(f, expo) for f in base.args))  # a longer product stays whole, as mul keeps it
        if base.op == "where" and base.args[1].op == "const" and base.args[2].op == "const":
            # a select of numbers: where(c, 1, 0)**2 -> where(c, 1, 0), the product of two of a derivative's
            # selects, which stays a select the product rule moves factors into (a select of expressions
            # stays whole: where(c, x, 1)**-1 is the safe division of sinc's partial)
            cond, a, b = base.args
            return where(cond, pow(a, expo), pow(b, expo))
    elif base.op == "const" and base.value == 1:
        return const(1)
    return make("pow", (base, expo))


EXACT_POW_BITS = 1 << 14
"""An exact power of an exact number is folded exactly while its result has at most this many bits (beyond
exponent 64), as Python computes ``2**1100``: through a float it would be inf, and ``2**1100/2**1099`` nan."""


def _fold_pow(b: Number, e: Number) -> Node:
    if isinstance(b, (int, Fraction)) and isinstance(e, int) and not (b == 0 and e < 0):
        q = Fraction(b)
        if abs(e) <= 64 or max(q.numerator.bit_length(), q.denominator.bit_length()) * abs(e) <= EXACT_POW_BITS:
            return const(q**e)
        if abs(q) == 1:  # (-1)**e for any int e: float(e) past 2**53 would round an odd e to an even one
            return const(-1 if q < 0 and e % 2 else 1)
        if q < 0:  # the sign from e's parity, exactly; the magnitude in floating point (over- or underflows)
            with np.errstate(all="ignore"):
                magnitude = float(np.power(float_value(-q), float(e)))
            return const(-magnitude if e % 2 else magnitude)
    with np.errstate(all="ignore"):
        return const(float(np.power(float_value(b), float_value(e))))


def balanced(name: str | Callable, values) -> Node:
    """``values`` combined by the binary op ``name`` (or builder) as a balanced tree: depth log2(n), not a chain of n.

    ``sg.max`` of n elements, sympy's n-ary ``Max`` and the max-shift of ``logsumexp`` use it:
    a left-deep chain would make printing and differentiating them quadratic.
    """
    nodes = [as_node(v) for v in values]
    combine = name if callable(name) else functools.partial(call, name)
    while len(nodes) > 1:
        paired = [combine(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        nodes = paired + nodes[-1:] if len(nodes) % 2 else paired
    return nodes[0]


def call(name: str, *xs) -> Node:
    """Apply a non-arithmetic primitive from the table, folding constants."""
    op = OPS.get(name)
    if op is None:
        raise UnsupportedOpError(name)
    args = tuple([x if x.__class__ is Node else as_node(x) for x in xs])
    if op.arity not in (-1, len(args)):
        raise TraceError(f"{name} takes {op.arity} operand(s), got {len(args)}")
    numbers = [float_value(a.value) if a.op == "const" else number_of(a) for a in args]
    if None not in numbers:  # numbers, and expressions of named ones (sin(pi/2))
        with np.errstate(all="ignore"):
            value = op.ref(*numbers)
        return const(float(value))
    if len(args) == 1 and op.parity and (negated := _minus_taken_out(args[0])) is not None:
        inner = call(name, negated)  # sin(-x) -> -sin(x), cos(-x) -> cos(x), as sympy writes them
        return inner if op.parity == "even" else mul(-1, inner)
    if len(args) == 1 and op.undoes and args[0].op == op.undoes:
        return args[0].args[0]
    for inner, rebuilt in op.rewrites:  # e.g. log(sigmoid(u)) -> -softplus(-u), from the op table
        if len(args) == 1 and args[0].op == inner:
            return rebuilt(sys.modules[__name__], *args[0].args)
    if len(args) == 1 and args[0].op == "custom":  # a custom function's rule: log(softmax) -> log_softmax
        rebuilt = args[0].value.outer(name, args[0])
        if rebuilt is not None:
            return rebuilt
    if len(args) == 1 and op.idempotent and args[0].op == name:
        return args[0]
    if name in ("eq", "ne") and args[0] is args[1]:  # a value equals itself (assuming it is not nan, as x - x -> 0)
        return const(1 if name == "eq" else 0)
    if name == "where":
        cond, a, b = args
        while cond.op in ("ne", "eq") and cond.args[1] is _ZERO:  # where tests c != 0 itself
            cond, a, b = (cond.args[0], a, b) if cond.op == "ne" else (cond.args[0], b, a)
        if cond.op == "const":
            return a if cond.value != 0 else b
        if a is b:
            return a
        if a.op == "where" and a.args[0] is cond:  # where(c, where(c, p, q), b) -> where(c, p, b)
            return where(cond, a.args[1], b)
        if b.op == "where" and b.args[0] is cond:
            return where(cond, a, b.args[2])
        if not (_is_zero(a) or _is_zero(b)):
            guard = _common_guard([a, b])
            if guard is not None:  # both branches are 0 unless guard holds: the guard goes outside
                return where(guard, where(cond, _unguarded(a, guard), _unguarded(b, guard)), 0)
        args = (cond, a, b)
    return make(name, args)


def number_of(node: Node, depth: int = 4) -> float | None:
    """The value of a symbol-free node made of numbers and named constants (``sg.pi``) by ``+ * **``, else None.

    Only named constants make such nodes (the builders fold everything else), so
    this answers None at once for ordinary graphs; ``depth`` bounds the walk.
    """
    if node.op == "const":
        return float_value(node.value)
    if node.op == "custom" and not node.args:
        return node.value.constant
    if depth == 0 or node.op not in ("add", "mul", "pow"):
        return None
    values = []
    for a in reversed(node.args):  # a coefficient or constant term comes first: meet the symbolic part at once
        v = number_of(a, depth - 1)
        if v is None:
            return None
        values.append(v)
    values.reverse()
    with np.errstate(all="ignore"):
        return float(OPS[node.op].ref(*values))


def where(cond, a, b) -> Node:
    return call("where", cond, a, b)


def sub(a, b) -> Node:
    """``a - b`` as the sum ``a + (-1)*b``."""
    return add(a, mul(-1, b))


def div(a, b) -> Node:
    """``a / b`` as the product ``a * b**-1``."""
    return mul(a, pow(b, -1))


_BINARY = {
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": pow,
    "lt": lambda a, b: call("lt", a, b),
    "le": lambda a, b: call("le", a, b),
    "gt": lambda a, b: call("gt", a, b),
    "ge": lambda a, b: call("ge", a, b),
    "eq": lambda a, b: call("eq", a, b),
    "ne": lambda a, b: call("ne", a, b),
    "and": lambda a, b: logical_and(a, b),
    "or": lambda a, b: logical_or(a, b),
    "xor": lambda a, b: call("ne", truth(a), truth(b)),
}


def truth(x) -> Node:
    """1 where ``x`` is nonzero (true), else 0: conditions are already such, other values are compared with 0."""
    node = as_node(x)
    if node.op in CONDITIONS or (node.op == "const" and node.value in (0, 1)):
        return node
    return call("ne", node, 0)


def is_boolean(x) -> bool:
    """Whether ``x`` is a truth value as numpy types one: a bool, a condition, a select of conditions (``a & b``)."""
    if isinstance(x, (bool, np.bool_)):
        return True
    if not isinstance(x, Node):
        return False
    if x.op in CONDITIONS:
        return True
    # logical_and/or's selects choose between conditions (truth(b)) and the constants 0 and 1
    return x.op == "where" and all(
        branch.op in CONDITIONS or (branch.op == "const" and branch.value in (0, 1)) for branch in x.args[1:]
    )


def boolean_arrays(operands) -> bool:
    """Whether numpy would type ``operands`` as booleans, an array among them (a bare scalar keeps Python's True + True).

    numpy's ``+`` of boolean arrays is a logical or; both the ``+`` of a node
    and numpy's add ufunc on symbolic arrays ask this.  An array is boolean by
    its type (numpy's bool, or a :class:`BooleanArray` from a comparison), a
    scalar by what it is (a condition).
    """
    if not any(isinstance(v, np.ndarray) for v in operands):
        return False
    for v in operands:
        if isinstance(v, np.ndarray):
            # the array's type, not its elements: (v > 0)*1.0 holds the conditions of v > 0 and is float
            if v.dtype != bool and not isinstance(v, BooleanArray):
                return False
        elif not is_boolean(v):
            return False
    return True


def logical_and(a, b) -> Node:
    return where(a, truth(b), 0)


def logical_or(a, b) -> Node:
    return where(a, 1, truth(b))


def logical_not(a) -> Node:
    return call("eq", a, 0)


CONDITIONS = frozenset(name for name, op in OPS.items() if op.condition)  # ops whose value is a truth value
_BOOLEAN_RESULTS = CONDITIONS | {"and", "or", "xor"}  # the operators whose arrays numpy types bool
_ZERO = const(0)


def binary(kind: str, a, b):
    """Python's binary operators on nodes; arrays of any kind go elementwise."""
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            return NotImplemented
        if kind == "add" and boolean_arrays((a, b)):  # a condition plus an array of conditions: numpy's or
            return boolean_array(elementwise(logical_or, a, b))
        out = elementwise(_BINARY[kind], a, b)
        return boolean_array(out) if kind in _BOOLEAN_RESULTS else out
    try:
        return _BINARY[kind](a, b)
    except TraceError:
        if not isinstance(a, (Node, *_NUMBER_TYPES)) or not isinstance(b, (Node, *_NUMBER_TYPES)):
            return NotImplemented
        raise


def elementwise(fn, *args):
    """Apply a scalar builder over arrays of nodes and numbers, broadcasting like numpy."""
    if not any(isinstance(a, np.ndarray) for a in args):
        return fn(*args)
    # Every operand becomes an object array, nodes included: a bare node next to an array
    # would make numpy hand the whole frompyfunc call to Node.__array_ufunc__.
    arrays = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype == object:
            _check_elements(a)
        arr = np.empty((), dtype=object) if a.__class__ is Node else np.asarray(a, dtype=object)
        if a.__class__ is Node:
            arr[()] = a
        arrays.append(arr)
    out = np.frompyfunc(fn, len(args), 1)(*arrays)
    if not isinstance(out, np.ndarray):
        return out  # every operand was 0-d: a scalar, as numpy gives for 0-d operands
    return out.view(SymbolicArray)


def _check_elements(a: np.ndarray) -> None:
    for v in a.flat:
        if not isinstance(v, (Node, *_NUMBER_TYPES)):
            raise TraceError(f"arrays in symbolic expressions must hold numbers or symbols, got {type(v).__name__}")


def rebuild(node: Node, args: tuple[Node, ...]) -> Node:
    """``node``'s op applied to new operands, through the simplifying builders."""
    if node.op == "add":
        return add(*args)
    if node.op == "mul":
        return mul(*args)
    if node.op == "pow":
        return pow(*args)
    if node.op == "custom":  # a user's function (symgrad.ir.custom): its node value applies it
        return node.value.apply(args)
    return call(node.op, *args)


def rewrite(roots: Sequence[Node], replacement: Callable[[Node, dict[Node, Node]], Node | None]) -> list[Node]:
    """The roots with nodes replaced, in one iterative pass that keeps sharing.

    ``replacement(node, new)`` gives a node's replacement (``new`` maps the nodes
    before it to theirs) or None to keep it, rebuilt through the builders when
    an operand changed.  Substitution, ``subs`` and lowering custom functions
    are all this pass.
    """
    from .node import toposort

    new: dict[Node, Node] = {}
    for node in toposort(roots):
        hit = replacement(node, new)
        if hit is not None:
            new[node] = hit
        elif not node.args:
            new[node] = node
        else:
            args = tuple(new[a] for a in node.args)
            new[node] = node if all(a is b for a, b in zip(args, node.args)) else rebuild(node, args)
    return [new[r] for r in roots]


def substitute(roots: Sequence[Node], mapping: dict[Node, Node]) -> list[Node]:
    """The roots with symbols replaced per ``mapping`` (numbers or nodes)."""
    return rewrite(roots, lambda node, new: as_node(mapping[node]) if node.op == "sym" and node in mapping else None)
