"""Output structures: a plan to rebuild a program's outputs (nodes, arrays, dicts, lists, tuples) from flat slots.

The generated code computes one flat list of slots; the plan says where each
output leaf's slots start and which containers hold them, for the numpy call
path (:func:`map_plan`, :func:`rebuild`) and the scalar path's return
expression (:func:`results_format`).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.node import Node
from ..tracing.program import _output_node

_NODE_ONLY = frozenset({Node})


def flatten(outputs, slots: list[Node]):
    """A plan to rebuild ``outputs`` from flat slots; appends the slot nodes.

    A container's plan is ``(dict | list | tuple, keys, children)``, a leaf's ``("leaf", shape, first slot)``.
    """
    if isinstance(outputs, dict):
        return (dict, tuple(outputs), [flatten(o, slots) for o in outputs.values()])
    if isinstance(outputs, (tuple, list)):
        return (list if isinstance(outputs, list) else tuple, None, [flatten(o, slots) for o in outputs])
    if isinstance(outputs, np.ndarray):
        start = len(slots)
        flat = outputs.reshape(-1).tolist()
        if set(map(type, flat)) <= _NODE_ONLY:  # the usual case (a Hessian of 9*10^6 entries): no Python-level loop
            slots.extend(flat)
        else:
            slots.extend(_output_node(v) for v in flat)
        return ("leaf", outputs.shape, start)
    slots.append(_output_node(outputs))
    return ("leaf", (), len(slots) - 1)


def results_format(plan, dtype: str) -> str:
    """The scalar path's return expression for ``plan``, with ``{k}`` per slot."""
    kind = plan[0]
    if kind == "leaf":
        _, shape, start = plan
        if not shape:
            return f"{{{start}}}" if dtype == "float64" else f"np.float32({{{start}}})"
        items = ", ".join(f"{{{start + i}}}" for i in range(math.prod(shape)))
        return f"np.array([{items}], dtype=np.{dtype}).reshape({shape!r})"
    parts = [results_format(p, dtype) for p in plan[2]]
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
    return all(literal_keys(p) for p in plan[2])


def map_plan(plan, leaf_fn):
    if plan[0] == "leaf":
        return leaf_fn(plan[1], plan[2])
    children = [map_plan(p, leaf_fn) for p in plan[2]]
    return dict(zip(plan[1], children)) if plan[0] is dict else plan[0](children)


def plain_floats(result):
    """0-d results as Python floats, as the scalar path gives them."""
    if isinstance(result, dict):
        return {k: plain_floats(v) for k, v in result.items()}
    if isinstance(result, (tuple, list)):
        return type(result)(plain_floats(r) for r in result)
    return float(result) if isinstance(result, np.floating) else result


def flat_values(result) -> list:
    """A call's result as a flat list in slot order (the order :func:`flatten` numbered them)."""
    if isinstance(result, dict):
        return [v for r in result.values() for v in flat_values(r)]
    if isinstance(result, (tuple, list)):
        return [v for r in result for v in flat_values(r)]
    return list(np.asarray(result, dtype=float).reshape(-1))


def rebuild(index_plan, finish):
    if isinstance(index_plan, int):
        return finish(index_plan)
    if isinstance(index_plan, dict):
        return {k: rebuild(p, finish) for k, p in index_plan.items()}
    return type(index_plan)(rebuild(p, finish) for p in index_plan)
