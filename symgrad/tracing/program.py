"""What a trace produces: a program's arguments and its symbolic outputs.

Every later layer consumes a :class:`Program`: differentiation builds new
outputs over the same arguments, code generation flattens the outputs into
slots, and a compiled object calls the generated code with arrays shaped like
the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TraceError
from ..ir.array import SymbolicArray
from ..ir.builders import as_node
from ..ir.node import Node
from .pytree import LEAF, Tree, container_kind, describe, flatten, sequence_of, unflatten


@dataclass(frozen=True)
class Arg:
    """One argument: its name, declared shape and element symbols (C order)."""

    name: str
    shape: tuple[int, ...]
    symbols: tuple[Node, ...]

    @property
    def value(self):
        """The symbolic argument: a symbol, or an object array of them."""
        return as_value(self.symbols, self.shape)


@dataclass(frozen=True)
class Param:
    """One argument as the caller passes it: a name, and a pytree structure over the leaf arguments
    ``args[start : start + tree.size]`` (a single leaf for a plain scalar or array argument)."""

    name: str
    tree: Tree
    start: int

    @property
    def stop(self) -> int:
        return self.start + self.tree.size


@dataclass(frozen=True)
class Program:
    """Leaf arguments (flat: what code generation sees), symbolic outputs, and the caller's arguments.

    ``params`` groups the leaf arguments into the arguments a caller passes
    (pytrees); None means one argument per leaf.
    """

    args: tuple[Arg, ...]
    outputs: object  # Node | object ndarray | dicts/tuples/lists of those
    params: tuple[Param, ...] | None = None
    # the outputs these were derived from (a gradient's function): verify=True checks the custom
    # functions' rules behind them too, as a derivative that is a bare symbol or number carries no mark
    sources: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.params is None:
            object.__setattr__(self, "params", tuple(Param(a.name, LEAF, i) for i, a in enumerate(self.args)))

    @property
    def has_trees(self) -> bool:
        """Whether some argument is a pytree (not one plain array or scalar)."""
        return any(not p.tree.is_leaf for p in self.params)

    def leaves(self, i: int) -> tuple[Arg, ...]:
        """The leaf arguments of argument ``i``."""
        p = self.params[i]
        return self.args[p.start : p.stop]

    def value(self, i: int):
        """Argument ``i`` as the traced function sees it: a symbolic value, or a pytree of them."""
        return unflatten(self.params[i].tree, [a.value for a in self.leaves(i)])

    def spec(self, i: int):
        """Argument ``i``'s declared shapes, in its structure (``(3,)``, or ``{"W": (3, 2), "b": (2,)}``)."""
        return unflatten(self.params[i].tree, [a.shape for a in self.leaves(i)])

    def structure_text(self, i: int) -> str:
        """Argument ``i``'s structure with its leaves' shapes, for messages."""
        return describe(self.params[i].tree, [repr(a.shape) for a in self.leaves(i)])

    def with_outputs(self, outputs) -> Program:
        """The same arguments computing ``outputs``, built from this program's (kept in ``sources``)."""
        return Program(self.args, outputs, self.params, self.derived_sources)

    @property
    def derived_sources(self) -> tuple:
        """``sources`` of a program built from this one's outputs: these outputs and their own sources."""
        return self.sources if self.outputs is None else (*self.sources, self.outputs)

    def source_nodes(self) -> list[Node]:
        """The nodes of ``sources``, for ``verify=True`` to find the custom rules behind the outputs."""
        leaves = [leaf for src in self.sources for leaf in flatten(src)[0]]
        return [n for n in leaf_elements(leaves) if isinstance(n, Node)]


def leaf_elements(leaves: list) -> list:
    """The scalars of flattened output leaves (nodes, numbers, arrays of them), in order."""
    return [n for leaf in leaves for n in np.asarray(leaf, dtype=object).reshape(-1).tolist()]


def symbolic_outputs(out, none: bool = False):
    """Outputs as nodes, object arrays of nodes, and dicts/tuples/lists of those (numbers become constants).

    ``none``: None stays None, a pytree node with no leaves, as JAX takes a
    function's outputs (``(loss, None)``); an expression to differentiate or
    draw has no such node, so there it is refused.
    """
    if none and out is None:
        return None
    if isinstance(out, dict):
        return {k: symbolic_outputs(v, none) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return sequence_of(container_kind(out), [symbolic_outputs(o, none) for o in out])
    if isinstance(out, np.ndarray):
        return _output_array(out)
    return _output_node(out)


def _output_array(out: np.ndarray) -> np.ndarray:
    """An array output as a plain object array of nodes, in passes over its flat elements, not per index.

    A dense Hessian of 3,000 variables is 9*10^6 nodes already: one type test
    over the distinct types, then a copy of the references (an element loop
    over ``np.ndindex`` cost ~0.6 µs an entry, 5 s there).
    """
    flat = out.reshape(-1).tolist()
    if out.dtype == object and set(map(type, flat)) <= _NODE_ONLY:
        return np.array(out, dtype=object)  # object to object: references copied, nothing looked into
    arr = np.empty(len(flat), dtype=object)
    for k, value in enumerate(flat):  # item by item: numpy must not look into nodes for array protocols
        arr[k] = value if value.__class__ is Node else _output_node(value)
    return arr.reshape(out.shape)


_NODE_ONLY = frozenset({Node})


def _output_node(value) -> Node:
    if isinstance(value, (complex, np.complexfloating)):
        raise TraceError("complex outputs are not supported")
    try:
        return as_node(value)
    except TraceError:
        raise TraceError(
            f"a traced function must return numbers, symbolic values, arrays or dicts/tuples/lists of them, "
            f"not {type(value).__name__}"
        ) from None


def as_value(nodes, shape: tuple[int, ...]):
    """Flat nodes as a symbolic value of ``shape``: the node itself, or an object array."""
    if not shape:
        return nodes[0]
    return np.array(list(nodes), dtype=object).reshape(shape).view(SymbolicArray)
