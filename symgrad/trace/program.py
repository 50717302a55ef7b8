"""What a trace produces: a program's arguments and its symbolic outputs.

Every later layer consumes a :class:`Program`: differentiation builds new
outputs over the same arguments, code generation flattens the outputs into
slots, and a compiled object calls the generated code with arrays shaped like
the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TraceError
from ..ir.array import SymbolicArray
from ..ir.builders import as_node
from ..ir.node import Node


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
class Program:
    args: tuple[Arg, ...]
    outputs: object  # Node | object ndarray | tuple/list of those


def symbolic_outputs(out):
    """Outputs as nodes, object arrays of nodes, and tuples/lists of those (numbers become constants)."""
    if isinstance(out, (tuple, list)):
        return type(out)(symbolic_outputs(o) for o in out)
    if isinstance(out, np.ndarray):
        arr = np.empty(out.shape, dtype=object)
        for idx in np.ndindex(*out.shape):
            arr[idx] = _output_node(out[idx])
        return arr
    return _output_node(out)


def _output_node(value) -> Node:
    if isinstance(value, (complex, np.complexfloating)):
        raise TraceError("complex outputs are not supported")
    try:
        return as_node(value)
    except TraceError:
        raise TraceError(
            f"a traced function must return numbers, symbolic values, arrays or tuples/lists of them, "
            f"not {type(value).__name__}"
        ) from None


def as_value(nodes, shape: tuple[int, ...]):
    """Flat nodes as a symbolic value of ``shape``: the node itself, or an object array."""
    if not shape:
        return nodes[0]
    return np.array(list(nodes), dtype=object).reshape(shape).view(SymbolicArray)
