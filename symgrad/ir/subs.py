"""sympy's ``subs`` on symgrad expressions and arrays of them: ``e.subs(x, 2)``, ``e.subs({x: 2})``.

sympy applies the pairs of a substitution one after another (``(x + y).subs([(x,
y), (y, 2)])`` is 4); a dict or set is first put in sympy's order (larger keys
first, then by name); ``simultaneous=True`` replaces all keys at once.  Keys are
matched structurally (hash-consing makes that an identity test): a symbol, its
name, an array symbol (paired element by element with an array value), or any
subexpression.  Every rebuilt node goes through the simplifying builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    """The roots with each node of ``mapping`` replaced (sharing kept, rebuilt by the builders)."""
    return B.rewrite(roots, lambda node, new: mapping.get(node))
