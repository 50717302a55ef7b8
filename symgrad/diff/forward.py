"""Forward mode on the graph: Jacobian-vector products, one tangent node per node that depends on the variables."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import builders as B
from ..ir.custom import note_derivatives
from ..ir.node import Node
from .reverse import ZERO, _local_partials, _marked_order, check_variables


def jvp_nodes(roots: Sequence[Node], tangents: dict[Node, object]) -> list[Node]:
    """Forward mode: the directional derivative of each root along ``tangents``."""
    check_variables(list(tangents))
    order, marked = _marked_order(roots, set(tangents))  # only the nodes that get a tangent, in topological order
    dot: dict[Node, Node] = {v: B.as_node(t) for v, t in tangents.items()}
    for node in order:
        if node in dot:
            continue
        dot[node] = B.add(*(B.mul(p, dot[a]) for a, p in _local_partials(node, marked)))
    result = [dot.get(r, ZERO) for r in roots]
    note_derivatives(roots, result)  # so verify=True knows which custom rules built them
    return result
