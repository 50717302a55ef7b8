"""What is checked: the subject f, its variables, the claims, and the points given with ``at=``.

Everything a user passes to :func:`check` is read here, so a bad input is named
before anything is computed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..api.expressions import diff as diff_expr
from ..api.expressions import hessian as hessian_expr
from ..api.expressions import jacobian as jacobian_expr
from ..api.transforms import program_of
from ..diff.reverse import vjp_nodes
from ..errors import InputError, ShapeError
from ..formula import parse
from ..ir import builders as B
from ..ir.node import Node, const, float_value, free_symbols, symbol
from ..tracing.functions import array_symbol
from ..tracing.program import symbolic_outputs

# -- the subject: f, its variables and its shapes ------------------------------------------------


@dataclass
class Subject:
    name: str
    value: object  # Node or object ndarray
    args: dict[str, object]  # name -> symbol or array symbol, in order
    function: Callable | None = None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: np.shape(v) for n, v in self.args.items() if isinstance(v, np.ndarray)}

    @property
    def names(self) -> dict[str, tuple[int, ...]]:
        """Every argument's shape, scalars' () too, for parsing claims: f's symbol ``e`` (or ``pi``) is that
        symbol in a claim, not the constant the formula parser reads for an undeclared name."""
        return {n: np.shape(v) for n, v in self.args.items()}


def subject_of(f, at, shapes, name: str | None) -> Subject:
    """f as an expression (Node or object array) with its arguments; ``shapes`` declares array arguments."""
    if isinstance(f, str):
        parsed = parse(f, shapes)
        return Subject(name or "f", parsed.value, _sorted_args(parsed.value, shapes))
    if callable(f) and not isinstance(f, (Node, np.ndarray)):
        return _function_subject(f, at, shapes, name)
    try:
        value = symbolic_outputs(f)
    except Exception as exc:  # anything symbolic_outputs refuses is a bad f
        raise InputError(f"check: f must be an expression, a formula or a function, got {type(f).__name__}") from exc
    if isinstance(value, (tuple, list)):
        value = np.asarray(value, dtype=object)
    return Subject(name or "f", value, _sorted_args(value, shapes))


def _function_subject(f, at, shapes, name: str | None) -> Subject:
    if shapes is None and isinstance(at, Mapping):
        shapes = {str(k): np.shape(v) for k, v in at.items() if isinstance(k, str) and np.ndim(v) > 0}
        params = _parameters(f)
        shapes = {k: v for k, v in shapes.items() if k in params} or None
    program = program_of(f, shapes)
    if program.outputs is None or isinstance(program.outputs, (tuple, list)):
        got = "None" if program.outputs is None else f"a {type(program.outputs).__name__}"
        raise InputError(f"check needs a function with one output; this one returns {got}")
    args = {a.name: a.value for a in program.args}
    fname = name or getattr(f, "__name__", "f")
    return Subject("f" if fname == "<lambda>" else fname, program.outputs, args, f)


def _parameters(f) -> list[str]:
    try:
        return list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return []


def _sorted_args(value, shapes: Mapping | None = None) -> dict[str, object]:
    """Free symbols by name; elements ``a[i]`` are gathered into the array symbol ``a``.

    Its shape is the declared one (``shapes``), else the largest index used.
    """
    nodes = [v for v in np.asarray(value, dtype=object).reshape(-1) if isinstance(v, Node)]
    extents: dict[str, tuple[int, ...]] = {
        str(k): tuple(v) for k, v in (shapes or {}).items() if isinstance(v, (tuple, list)) and len(v)
    }
    for s in free_symbols(nodes):
        base, index = s.value
        if base in extents and len(extents[base]) != len(index):
            raise InputError(f"check: the symbol {base!r} is used with different numbers of indices")
        old = extents.get(base, (0,) * len(index))
        extents[base] = tuple(max(o, i + 1) for o, i in zip(old, index))
    return {n: (array_symbol(n, ext) if ext else symbol(n)) for n, ext in sorted(extents.items())}


# -- variables and claims -------------------------------------------------------------------------


def variables_of(subject: Subject, wrt, claimed) -> list[tuple[str, object]]:
    if wrt is None:
        if isinstance(claimed, Mapping):
            return [_variable(subject, k) for k in claimed]
        return list(subject.args.items())
    if isinstance(wrt, str):  # "x y" and "x, y" name two variables, as in sg.symbols and sg.gradient
        items = wrt.replace(",", " ").split() or [wrt]
    else:
        items = wrt if isinstance(wrt, (list, tuple)) else [wrt]
    return [_variable(subject, w) for w in items]


def _variable(subject: Subject, w) -> tuple[str, object]:
    if isinstance(w, str):
        if w in subject.args:
            return w, subject.args[w]
        if subject.function is not None:
            raise InputError(f"wrt names {w!r}, which is not an argument of {subject.name} ({', '.join(subject.args)})")
        if not w.isidentifier():
            raise InputError(f"wrt names {w!r}, which is not a symbol name (like x, x1, alpha)")
        return w, symbol(w)
    if isinstance(w, Node) and w.op == "sym":
        return w.name, w
    if isinstance(w, np.ndarray) and w.size and all(isinstance(v, Node) and v.op == "sym" for v in w.flat):
        return w.flat[0].value[0], w
    raise InputError(f"wrt must be a symbol, an array symbol, a name or a list of them, got {w!r}")


def split_claims(subject: Subject, claimed, variables: list[tuple[str, object]]) -> list:
    if isinstance(claimed, Mapping):
        by_name = {(k.name if isinstance(k, Node) else str(k)): v for k, v in claimed.items()}
        missing = [n for n, _ in variables if n not in by_name]
        if missing:
            raise InputError(f"claimed gives no derivative for {', '.join(missing)} (it has {', '.join(by_name)})")
        return [by_name[n] for n, _ in variables]
    if callable(claimed) and not isinstance(claimed, (Node, np.ndarray)):
        return _function_claims(subject, claimed, variables)
    if len(variables) == 1:
        return [claimed]
    if isinstance(claimed, str):  # "[9*a**2, -2*b]": one formula per variable, each parsed on its own
        items = nested_items(claimed)
        claimed = items if isinstance(items, list) else parse(claimed, subject.names).value
    if isinstance(claimed, (list, tuple, np.ndarray)):
        columns = _jacobian_columns(subject, claimed, variables)
        if columns is not None:
            return columns
        if len(claimed) == len(variables):
            return list(claimed)
    names = ", ".join(n for n, _ in variables)
    raise InputError(
        f"f has {len(variables)} variables ({names}): give claimed as a dict {{name: derivative}} "
        f"or a list of {len(variables)} derivatives, or choose one with wrt="
    )


def _jacobian_columns(subject: Subject, claimed, variables) -> list | None:
    """A claimed Jacobian of a vector f in scalar variables (rows: f's entries), as one column per variable."""
    f_shape = np.shape(subject.value)
    if not f_shape or any(np.shape(v) for _, v in variables):
        return None
    arr = _object_array(claimed)
    if arr is None or arr.shape != f_shape + (len(variables),):
        return None
    return [arr[..., j] for j in range(len(variables))]


def _object_array(claimed) -> np.ndarray | None:
    """Nested lists (of formulas, numbers or nodes) as an object array; None if ragged."""
    if isinstance(claimed, np.ndarray):
        return claimed
    shape = _nested_shape(claimed)
    if shape is None:
        return None
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        cell = claimed
        for i in idx:
            cell = cell[i]
        out[idx] = cell
    return out


def _nested_shape(claimed) -> tuple[int, ...] | None:
    if not isinstance(claimed, (list, tuple)):
        return ()
    shapes = {_nested_shape(c) for c in claimed}
    if len(shapes) > 1 or None in shapes:
        return None
    return (len(claimed), *(shapes.pop() if shapes else ()))


def list_items(text: str) -> list[str] | None:
    """``"[a, [b, c]]"`` -> ``["a", "[b, c]"]``: the items of a bracketed list formula; None if it is not one."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    items, depth, start = [], 0, 1
    for i, ch in enumerate(text[:-1]):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            return None  # the first bracket closes early: "[a] + [b]" is not a list
        if ch == "," and depth == 1:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:-1])
    items = [item.strip() for item in items]
    return items if all(items) else None


def nested_items(text: str):
    """``"[[a, b], [c, d]]"`` -> ``[["a", "b"], ["c", "d"]]``; a formula that is not a bracketed list stays a string."""
    items = list_items(text)
    return text if items is None else [nested_items(item) for item in items]


def higher_derivatives(subject: Subject, wrt, claimed, order: int) -> list[tuple[str, str, Node, object, object]]:
    """``(label, variable, symbol, correct, claim)`` per entry of the order-``order`` derivative claimed.

    One variable: the ``order``-th derivative.  Several: ``order`` must be 2
    and ``claimed`` an n x n matrix (nested lists, an array, or a formula
    ``"[[..], [..]]"``) compared with the Hessian entry by entry.
    """
    if not isinstance(subject.value, Node):
        raise ShapeError(f"order={order} needs a scalar {subject.name}; this one has shape {np.shape(subject.value)}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise InputError(f"order must be a positive integer, got {order!r}")
    scalars = [
        (s.name, s) for _, v in variables_of(subject, wrt, None) for s in np.asarray(v, dtype=object).reshape(-1)
    ]
    f, name = subject.value, subject.name
    if len(scalars) == 1:
        ((v_name, v),) = scalars
        claim = _matrix(claimed, subject, 1)[0, 0] if _is_matrix_like(claimed) else claimed
        return [(f"d{order}{name}/d{v_name}{order}", v_name, v, diff_expr(f, v, order), claim)]
    if order != 2:
        raise InputError(f"order={order} with {len(scalars)} variables: only order=2 (the Hessian) is supported")
    H = hessian_expr(f, [v for _, v in scalars])
    claims = _matrix(claimed, subject, len(scalars))
    out = []
    for i, (a, va) in enumerate(scalars):
        for j, (b, _) in enumerate(scalars):
            label = f"d2{name}/d{a}2" if i == j else f"d2{name}/d{a}d{b}"
            out.append((label, f"{a},{b}", va, H[i, j], claims[i, j]))
    return out


def _is_matrix_like(claimed) -> bool:
    return isinstance(claimed, (list, tuple, np.ndarray)) or (
        isinstance(claimed, str) and list_items(claimed) is not None
    )


def _matrix(claimed, subject: Subject, n: int) -> np.ndarray:
    rows = nested_items(claimed) if isinstance(claimed, str) else claimed
    if isinstance(rows, str):  # one formula that is a matrix, such as "hessian_of_something" or "A"
        rows = parse(rows, subject.names).value
    arr = _object_array(rows)
    if arr is None or arr.shape != (n, n):
        got = "a ragged list" if arr is None else f"shape {arr.shape}"
        raise ShapeError(f"the claimed Hessian must be {n} x {n} (one row and column per variable), got {got}")
    return arr


def _function_claims(subject: Subject, claimed: Callable, variables) -> list:
    program = program_of(claimed, subject.shapes or None)
    out = program.outputs
    parts = list(out) if isinstance(out, (tuple, list)) else [out]
    if len(parts) == len(variables):
        return parts
    if len(parts) == len(subject.args):
        names = list(subject.args)
        return [parts[names.index(n)] for n, _ in variables]
    raise InputError(
        f"the claimed function returns {len(parts)} value(s); expected one per variable "
        f"({len(variables)}) or one per argument of f ({len(subject.args)})"
    )


def claim_value(claim, subject: Subject, label: str):
    """A claim as an expression (Node / object array) or as float64 numbers (a numeric ndarray)."""
    if isinstance(claim, str):
        return parse(claim, subject.names).value
    if isinstance(claim, Node):
        return _elementwise(claim, subject)
    if isinstance(claim, (bool, np.bool_)):
        raise InputError(f"the claimed {label} must be a number, an expression or a formula, not a bool")
    if isinstance(claim, (int, float, np.integer, np.floating)):
        return np.asarray(float_value(claim))
    if isinstance(claim, (list, tuple, np.ndarray)):
        return _claim_array(claim, subject, label)
    raise InputError(f"the claimed {label} must be a number, an expression or a formula, not {type(claim).__name__}")


def _elementwise(claim: Node, subject: Subject):
    """A claim in scalar symbols named like f's array arguments, read as the formula text is: elementwise.

    ``9*a**2`` built from ``sg.symbols("a")`` for an argument ``a`` of shape (2,) is
    ``(9*a[0]**2, 9*a[1]**2)``, as the string ``"9*a**2"`` is; left as it was, the
    scalar ``a`` would be a further variable, unrelated to ``a[0]`` and ``a[1]``.
    """
    arrays = {n: v for n, v in subject.args.items() if isinstance(v, np.ndarray) and v.ndim}
    hits = [s for s in free_symbols([claim]) if s.value[1] == () and s.value[0] in arrays] if arrays else []
    if not hits:
        return claim
    try:
        shape = np.broadcast_shapes(*(arrays[s.value[0]].shape for s in hits))
    except ValueError:
        shapes = ", ".join(f"{s.value[0]} {arrays[s.value[0]].shape}" for s in hits)
        raise ShapeError(f"the claim combines arrays of shapes that do not broadcast ({shapes})") from None
    elements = {s: np.broadcast_to(arrays[s.value[0]], shape) for s in hits}
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = B.substitute([claim], {s: arr[idx] for s, arr in elements.items()})[0]
    return out


def _claim_array(claim, subject: Subject, label: str):
    arr = np.asarray(claim, dtype=object) if not isinstance(claim, np.ndarray) else claim
    if arr.dtype != object:
        if arr.dtype.kind not in "iuf":
            raise InputError(f"the claimed {label} must hold real numbers, got an array of dtype {arr.dtype}")
        return arr.astype(np.float64)
    cells = [claim_value(v, subject, label) for v in arr.reshape(-1)]
    if all(isinstance(c, np.ndarray) and c.dtype != object and c.ndim == 0 for c in cells):
        return np.array([float(c) for c in cells], dtype=np.float64).reshape(arr.shape)
    if any(np.ndim(c) for c in cells):
        raise ShapeError(f"the claimed {label} mixes arrays into a list; write each element as a scalar")
    out = np.empty(arr.shape, dtype=object)
    for idx, c in zip(np.ndindex(*arr.shape), cells):
        out[idx] = c if isinstance(c, Node) else const(float(c))
    return out


# -- the correct derivative -----------------------------------------------------------------------


def expected_derivative(subject: Subject, var_name: str, var, claim_shape: tuple[int, ...]) -> tuple[object, str]:
    """d f / d var in the form the claim has: gradient, vector-Jacobian product with ones, or Jacobian."""
    f = subject.value
    var_shape = np.shape(var)
    flat_vars = list(np.asarray(var, dtype=object).reshape(-1))
    if isinstance(f, Node):
        return _shaped(vjp_nodes([(f, 1)], flat_vars), var_shape), "gradient"
    f_shape = np.shape(f)
    if claim_shape in (var_shape, ()) and f_shape + var_shape != claim_shape:
        seeds = [(node, 1) for node in f.reshape(-1)]
        return _shaped(vjp_nodes(seeds, flat_vars), var_shape), "vector-Jacobian product with ones"
    if claim_shape == f_shape + var_shape or claim_shape == ():
        return jacobian_expr(f, var), "Jacobian"
    raise ShapeError(
        f"the claimed d{subject.name}/d{var_name} has shape {claim_shape}, but {subject.name} has shape {f_shape} "
        f"and {var_name} has shape {var_shape}: claim the vector-Jacobian product with ones (shape {var_shape}, "
        f"what Q.backward(gradient=ones) computes) or the Jacobian (shape {f_shape + var_shape})"
    )


def _shaped(nodes: list[Node], shape: tuple[int, ...]):
    if not shape:
        return nodes[0]
    return np.array(nodes, dtype=object).reshape(shape)


def symbols_of(*values) -> list[Node]:
    nodes = [v for value in values for v in np.asarray(value, dtype=object).reshape(-1) if isinstance(v, Node)]
    return free_symbols(nodes)


def point_values(at, subject: Subject) -> dict[Node, float]:
    """``at`` (names or symbols -> values, or values by position for a function) as symbol -> float."""
    if isinstance(at, (list, tuple)) and subject.function is not None:
        at = dict(zip(subject.args, at))
    if not isinstance(at, Mapping):
        raise InputError(f"at must be a dict from symbols or their names to values, got {type(at).__name__}")
    values: dict[Node, float] = {}
    for key, raw in at.items():
        name = key.name if isinstance(key, Node) else str(key)
        target = subject.args.get(name, key if isinstance(key, Node) else symbol(name))
        arr = numeric_array(raw, f"at[{name!r}]")
        if np.shape(target) != arr.shape:
            raise ShapeError(f"at[{name!r}] has shape {arr.shape}, but {name} has shape {np.shape(target)}")
        for idx in np.ndindex(*arr.shape):
            values[np.asarray(target, dtype=object)[idx]] = float(arr[idx])
    return values


def numeric_array(raw, label: str) -> np.ndarray:
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{label} must be a number or an array of numbers ({exc})") from None
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise InputError(f"{label} must be real numbers, got {arr.dtype} {arr!r}"[:200])
    return arr.astype(np.float64)


def broadcast_claim(value, shape: tuple[int, ...], label: str):
    if np.shape(value) != ():
        raise ShapeError(f"the claimed {label} has shape {np.shape(value)}, but the derivative has shape {shape}")
    if isinstance(value, np.ndarray) and value.dtype != object:
        return np.broadcast_to(value, shape).astype(np.float64)
    out = np.empty(shape, dtype=object)
    out[...] = B.as_node(value[()] if isinstance(value, np.ndarray) else value)
    return out


def point_dict(point: Mapping[Node, object], subject: Subject, *values) -> dict[str, object]:
    """The point as {name: value}, arrays of f's arguments gathered, only the names the values use."""
    used = {s.value[0] for s in symbols_of(subject.value, *values)}
    out: dict[str, object] = {}
    for name, sym in subject.args.items():
        if name not in used:
            continue
        arr = np.asarray(sym, dtype=object)
        if all(s in point for s in arr.reshape(-1)):
            out[name] = np.array([float(point[s]) for s in arr.reshape(-1)]).reshape(arr.shape)
    for s, v in point.items():
        if s.value[0] in used and s.value[0] not in out:
            out[s.name] = float(v)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}
