"""Pytrees: nested dicts, lists and tuples of arrays and scalars, as JAX's transformations take them.

Code generation only knows flat arguments (one array symbol per leaf), so a
pytree argument is flattened into its leaves when traced and when called, and
derivatives and outputs are rebuilt in the argument's (or the output's)
structure.  Only dicts, lists and tuples are containers (a namedtuple is one, rebuilt
as its own class, as in JAX), and None is a node with no leaves (an output or aux of
None comes back as None, as in JAX); everything else is a leaf.  Dicts keep their key order (JAX sorts keys; matching here is by key, so
the order a caller writes a dict in never matters).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_CONTAINERS = (dict, list, tuple)


@dataclass(frozen=True)
class Tree:
    """The structure of a pytree: a leaf (``kind`` None), or a dict, list or tuple of subtrees."""

    kind: type | None = None
    keys: tuple = ()
    children: tuple[Tree, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return self.kind is None

    @property
    def size(self) -> int:
        """How many leaves the tree has."""
        return 1 if self.kind is None else sum(c.size for c in self.children)


LEAF = Tree()
NONE = Tree(type(None))
"""None: a node with no leaves, as JAX takes it (so ``(loss, None)`` is an output with one leaf)."""


def flatten(value, is_leaf: Callable[[object], bool] | None = None) -> tuple[list, Tree]:
    """The leaves of ``value`` (depth first, dicts in their key order) and its structure."""
    leaves: list = []
    return leaves, _flatten(value, leaves, is_leaf)


def _flatten(value, leaves: list, is_leaf) -> Tree:
    if is_leaf is not None and is_leaf(value):
        leaves.append(value)
        return LEAF
    if value is None:
        return NONE
    if not isinstance(value, _CONTAINERS):
        leaves.append(value)
        return LEAF
    if isinstance(value, dict):
        keys, items = tuple(value), tuple(value.values())
    else:
        keys, items = tuple(range(len(value))), tuple(value)
    return Tree(container_kind(value), keys, tuple(_flatten(v, leaves, is_leaf) for v in items))


def container_kind(value) -> type:
    """The kind of a container: dict, list, tuple, a namedtuple's own class (rebuilt as itself), or None's type."""
    if value is None:
        return type(None)
    if isinstance(value, dict):
        return dict
    if isinstance(value, list):
        return list
    return type(value) if hasattr(type(value), "_fields") else tuple


def sequence_of(kind: type, items):
    """A list, tuple or namedtuple of kind ``kind`` holding ``items`` (a namedtuple takes them as its fields).

    None's kind holds no items and is rebuilt as None, so every structure rebuilds through here.
    """
    if kind is type(None):
        return None
    return kind(*items) if hasattr(kind, "_fields") else kind(items)


def unflatten(tree: Tree, leaves) -> object:
    """The pytree of structure ``tree`` holding ``leaves`` (in :func:`flatten`'s order)."""
    it = iter(leaves)
    return _build(tree, it)


def _build(tree: Tree, it):
    if tree.kind is None:
        return next(it)
    children = [_build(c, it) for c in tree.children]
    return dict(zip(tree.keys, children)) if tree.kind is dict else sequence_of(tree.kind, children)


def tree_map(fn: Callable, value, is_leaf: Callable[[object], bool] | None = None):
    """``value`` with ``fn`` applied to each leaf."""
    leaves, tree = flatten(value, is_leaf)
    return unflatten(tree, [fn(leaf) for leaf in leaves])


def leaves_as(tree: Tree, value) -> list | None:
    """The leaves of ``value`` taken along ``tree`` (a list or a tuple may stand for either), or None if it differs.

    Below a leaf of ``tree`` nothing is looked at: a nested list there is an
    array, as numpy reads it.
    """
    out: list = []
    stack = [(tree, value)]
    while stack:
        node, v = stack.pop()
        if node.kind is None:
            out.append(v)
            continue
        if node.kind is dict:
            if not isinstance(v, Mapping) or set(v) != set(node.keys) or len(v) != len(node.keys):
                return None
            items = [v[k] for k in node.keys]
        elif node.kind is type(None):
            if v is not None:
                return None
            items = []
        else:
            if not isinstance(v, (list, tuple)) or len(v) != len(node.keys):
                return None
            items = list(v)
        stack.extend(reversed(list(zip(node.children, items))))
    return out


def broadcast_prefix(prefix, tree: Tree, is_leaf: Callable[[object], bool]) -> list | None:
    """A value per leaf of ``tree`` from ``prefix``, a pytree whose leaves stand for whole subtrees (JAX's in_axes).

    None if ``prefix`` does not match the top of ``tree``.
    """
    out: list = []
    stack = [(prefix, tree)]
    while stack:
        p, node = stack.pop()
        if is_leaf(p) or not isinstance(p, _CONTAINERS):
            out.extend([p] * node.size)
            continue
        items = leaves_as(Tree(node.kind, node.keys, (LEAF,) * len(node.keys)), p) if node.kind else None
        if items is None:
            return None
        stack.extend(reversed(list(zip(items, node.children))))
    return out


# -- names and descriptions -------------------------------------------------------------


def leaf_paths(tree: Tree) -> list[tuple]:
    """The key path of each leaf (``("W",)``, ``("layers", 0, "b")``), in :func:`flatten`'s order."""
    out: list[tuple] = []
    stack: list[tuple[Tree, tuple]] = [(tree, ())]
    while stack:
        node, path = stack.pop()
        if node.kind is None:
            out.append(path)
        else:
            stack.extend(reversed([(c, path + (k,)) for k, c in zip(node.keys, node.children)]))
    return out


_NOT_WORD = re.compile(r"\W+")


def leaf_names(name: str, tree: Tree) -> list[str]:
    """A readable, unique symbol name per leaf: ``params.W``, ``layers.0.b`` (just ``name`` for a leaf tree).

    The dot keeps a leaf apart from an element of an array symbol (``a[0]``)
    when a formula's text is read back, and from every user symbol (identifiers).
    """
    taken: set[str] = set()
    names = []
    for path in leaf_paths(tree):
        text = ".".join([name] + [_NOT_WORD.sub("_", str(k)) or "_" for k in path])
        while text in taken:
            text += "_"
        taken.add(text)
        names.append(text)
    return names


def describe(tree: Tree, leaf_texts: list[str]) -> str:
    """The structure as text, each leaf shown by its text: ``{'W': (3, 2), 'b': (2,)}``."""
    it = iter(leaf_texts)

    def text(node: Tree) -> str:
        if node.kind is None:
            return next(it)
        parts = [text(c) for c in node.children]
        if node.kind is dict:
            return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(node.keys, parts)) + "}"
        if node.kind is list:
            return "[" + ", ".join(parts) + "]"
        if node.kind is type(None):
            return "None"
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    return text(tree)


def describe_value(value) -> str:
    """A caller's value as structure text, each leaf shown by its shape (or its type, if not array-like)."""
    leaves, tree = flatten(value, is_leaf=lambda v: isinstance(v, np.ndarray))
    return describe(tree, [_leaf_text(v) for v in leaves])


def _leaf_text(v) -> str:
    if isinstance(v, (int, float, np.number, np.ndarray)) or hasattr(v, "__array__"):
        return repr(tuple(np.shape(v)))
    return type(v).__name__


def check_structure(tree: Tree, value, what: str, declared: str) -> list:
    """The leaves of ``value`` along ``tree``, or an :class:`InputError` naming ``what`` and both structures."""
    leaves = leaves_as(tree, value)
    if leaves is None:
        raise InputError(f"{what} must have the structure {declared}, got {describe_value(value)}")
    return leaves
