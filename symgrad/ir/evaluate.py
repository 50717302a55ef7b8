"""A reference interpreter of the IR: the op table's numpy implementations, node by node.

No code generation is involved, so it is the independent check that generated
code is measured against (and a way to evaluate graphs too large to compile
quickly).  Iterative over the topological order; values may be floats or arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .custom import op_of
from .node import Node, toposort


def evaluate(outputs: Sequence[Node], values: Mapping[Node, object]) -> list:
    """The value of each output, with ``values`` giving each symbol's value."""
    result: dict[Node, object] = {}
    with np.errstate(all="ignore"):
        for node in toposort(outputs):
            if node.op == "const":
                result[node] = float(node.value)
            elif node.op == "sym":
                if node not in values:
                    raise InputError(f"evaluate needs a value for the symbol {node.name}")
                result[node] = np.asarray(values[node], dtype=float)
            else:
                result[node] = op_of(node).ref(*(result[a] for a in node.args))  # a custom function: its body
    return [result[o] for o in outputs]
