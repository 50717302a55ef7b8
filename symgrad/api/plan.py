"""Output structures: a plan to rebuild a program's outputs (nodes, arrays, dicts, lists, tuples) from flat slots.

The generated code computes one flat list of slots; the plan says where each
output leaf's slots start and which containers hold them, for the numpy call
path (:func:`map_plan`, :func:`rebuild`) and the scalar path's return
expression (:func:`results_format`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..codegen.kernel import SlotTable
from ..ir.node import Node
from ..tracing.program import _NODE_ONLY, _output_node
from ..tracing.pytree import container_kind, sequence_of


def flatten(outputs) -> tuple[tuple, list[Node], SlotTable]:
    """A plan to rebuild ``outputs`` from flat slots, the slot nodes and their :class:`SlotTable`.

    A container's plan is ``(dict | list | tuple, keys, children)``, a leaf's
    ``("leaf", shape, first slot)``, None's ``(NoneType, None, [])`` (no slots).  An output array is taken whole
    (``tolist``: its list is the slots when it is the only leaf), and the slots
    are numbered once, by the table; numbers, and anything else standing for a
    node, are made nodes only when the table's distinct values show one (a dense
    Hessian of 9*10^6 entries holds ~9,000 distinct nodes, so that check is
    ~9,000 type tests, not 9*10^6).
    """
    pieces: list[list] = []
    plan = _plan(outputs, pieces, [0])
    slots = pieces[0] if len(pieces) == 1 else list(itertools.chain.from_iterable(pieces))
    try:
        table = SlotTable.of(slots)
    except TypeError:  # an unhashable value (a 0-d array): converted below, or said what is wrong
        table = None
    if table is None or not set(map(type, table.nodes)) <= _NODE_ONLY or any(map(_hashes_as_value, table.nodes)):
        slots = [_output_node(v) for v in slots]
        table = SlotTable.of(slots)
    return plan, slots, table


def _hashes_as_value(node: Node) -> bool:
    """Whether a number equal to this node could have been numbered as this node.

    The table's dict takes a value for a node only if both hash alike and compare
    equal, which for a number means a constant node of that value whose
    (address-based) hash is the number's hash: never, in practice, but checked,
    so every non-node value among the slots is converted.
    """
    return node.op == "const" and hash(node) == hash(node.value)


def _plan(outputs, pieces: list[list], count: list[int]):
    """The plan of ``outputs``, their slots appended to ``pieces`` (``count``: the slots so far)."""
    if outputs is None:  # no leaves, as in JAX: rebuilt as None (sequence_of)
        return (type(None), None, [])
    if isinstance(outputs, dict):
        return (dict, tuple(outputs), [_plan(o, pieces, count) for o in outputs.values()])
    if isinstance(outputs, (tuple, list)):
        return (container_kind(outputs), None, [_plan(o, pieces, count) for o in outputs])
    start = count[0]
    if isinstance(outputs, np.ndarray):
        flat = outputs.reshape(-1).tolist()  # a numeric array's numbers become nodes in flatten, with the rest
        pieces.append(flat)
        count[0] += len(flat)
        return ("leaf", outputs.shape, start)
    pieces.append([_output_node(outputs)])
    count[0] += 1
    return ("leaf", (), start)


def results_format(plan) -> str:
    """The scalar path's return expression for ``plan``, with ``{k}`` per slot (float64: the only scalar path)."""
    kind = plan[0]
    if kind == "leaf":
        _, shape, start = plan
        if not shape:
            return f"{{{start}}}"
        items = ", ".join(f"{{{start + i}}}" for i in range(math.prod(shape)))
        return f"np.array([{items}], dtype=np.float64).reshape({shape!r})"
    if kind is type(None):
        return "None"
    parts = [results_format(p) for p in plan[2]]
    if kind is dict:  # keys are str/int literals here (_literal_keys); braces doubled for str.format
        items = ", ".join(f"{repr(k).replace('{', '{{').replace('}', '}}')}: {v}" for k, v in zip(plan[1], parts))
        return f"{{{{{items}}}}}"
    inner = ", ".join(parts)
    return f"[{inner}]" if kind is list else f"({inner}{',' if len(parts) == 1 else ''})"


def literal_keys(plan) -> bool:
    """Whether every dict in the output plan has keys the scalar path can spell as literals (str or int)."""
    if plan[0] == "leaf":
        return True
    if plan[0] is dict and any(type(k) not in (str, int) for k in plan[1]):
        return False
    if plan[0] not in (dict, list, tuple, type(None)):  # a namedtuple: its class is not in the scalar path's namespace
        return False
    return all(literal_keys(p) for p in plan[2])


def map_plan(plan, leaf_fn):
    if plan[0] == "leaf":
        return leaf_fn(plan[1], plan[2])
    children = [map_plan(p, leaf_fn) for p in plan[2]]
    return dict(zip(plan[1], children)) if plan[0] is dict else sequence_of(plan[0], children)


def plain_floats(result):
    """0-d results as Python floats, as the scalar path gives them."""
    if isinstance(result, dict):
        return {k: plain_floats(v) for k, v in result.items()}
    if isinstance(result, (tuple, list)):
        return sequence_of(container_kind(result), [plain_floats(r) for r in result])
    return float(result) if isinstance(result, np.floating) else result


def flat_values(result) -> list:
    """A call's result as a flat list in slot order (the order :func:`flatten` numbered them)."""
    if result is None:
        return []
    if isinstance(result, dict):
        return [v for r in result.values() for v in flat_values(r)]
    if isinstance(result, (tuple, list)):
        return [v for r in result for v in flat_values(r)]
    return list(np.asarray(result, dtype=float).reshape(-1))


def rebuild(index_plan, finish):
    if index_plan is None:
        return None
    if isinstance(index_plan, int):
        return finish(index_plan)
    if isinstance(index_plan, dict):
        return {k: rebuild(p, finish) for k, p in index_plan.items()}
    return sequence_of(container_kind(index_plan), [rebuild(p, finish) for p in index_plan])
