"""A reference interpreter of the IR: the op table's numpy implementations, node by node.

No code generation is involved, so it is the independent check that generated
code is measured against (and a way to evaluate graphs too large to compile
quickly).  Iterative over the topological order; values may be floats or arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .node import Node, toposort
from .ops import OPS


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
                result[node] = OPS[node.op].ref(*(result[a] for a in node.args))
    return [result[o] for o in outputs]
