"""Linear algebra and array manipulation on small arrays of symbolic values, as numpy spells them.

Every result is exact and symbolic, so its derivatives of every order are too:

- ``det``: the Laplace (cofactor) expansion with every minor shared.  The determinant of the
  bottom ``k`` rows over each set of ``k`` columns is one node, made from ``k`` minors of size
  ``k - 1``: an ``n x n`` determinant is ``n * 2**(n - 1)`` products in ``2**n`` minors (1,024
  products for n = 8) instead of Leibniz's ``n * n!`` (322,560), and a 3 x 3 one prints as the
  familiar ``a*(e*i - f*h) - b*(d*i - f*g) + c*(d*h - e*g)``.
- ``inv`` (the adjugate over the determinant) and ``solve`` (``adj(a) @ b / det(a)``, Cramer's
  rule): the cofactors are the determinant's partial derivatives, accumulated over the same shared
  minors in one reverse sweep, so they cost as much again.  Nothing is divided but by the
  determinant: a singular matrix gives inf or nan where numpy raises ``LinAlgError``.
- ``trace``, ``norm`` (vector norms of any order; Frobenius, 1, -1, inf and -inf matrix norms),
  ``outer``, ``tensordot`` and ``einsum``: sums of products, one n-ary sum per output element.
- ``concatenate``, ``stack``, ``hstack``, ``vstack``, ``reshape``, ``transpose``: numpy's own
  on object arrays, with numpy's errors as symgrad's.

Matrices are limited to ``n <= MAX_MATRIX`` (8): the shared-minor form doubles with each row, and
past 8 the Hessian of a determinant no longer fits the default work budget (``sg.budget``), while
a numeric LU factorisation, which symgrad cannot differentiate symbolically, is what such sizes need.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import AxisError, InputError, ShapeError, SymgradError, UnsupportedOpError
from ..ir import builders as B
from ..ir.array import SymbolicArray
from ..ir.node import Node, const
from .functions import _axes, _refuse_numeric_options, amax, amin, matmul, numpy_typed, sqrt, square, sum

MAX_MATRIX = 8
"""Largest n of an n x n matrix for det, inv and solve (see the module doc)."""
MAX_EINSUM_TERMS = 10**7
"""Most products an einsum may build (output elements times the summed index range)."""

_ONE = const(1)
_NumpyAxisError = getattr(np, "exceptions", np).AxisError


def _objects(a) -> np.ndarray:
    return np.asarray(a, dtype=object)


def _result(out: np.ndarray):
    """A 0-d result as its element (symgrad's scalars are nodes), any other as a SymbolicArray."""
    out = np.asarray(out, dtype=object)
    return out[()] if out.ndim == 0 else out.view(SymbolicArray)


# -- determinants, inverses, solves: the shared-minor cofactor expansion ----------------------


def _square(a, fn: str) -> np.ndarray:
    x = _objects(a)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{fn} needs a square matrix or a stack of them, shape (..., n, n); got shape {x.shape}")
    n = x.shape[-1]
    if n > MAX_MATRIX:
        raise ShapeError(
            f"{fn} of a {n} x {n} matrix: symgrad's exact symbolic form (a cofactor expansion of n*2**(n-1) "
            f"products) is limited to n <= {MAX_MATRIX}; past that use a numeric solver outside the traced function"
        )
    return x


def _column_sets(n: int, k: int) -> list[tuple[int, tuple[int, ...]]]:
    """Each set of ``k`` of ``n`` columns as ``(bit mask, sorted columns)``, in a fixed order."""
    return [(_mask(cols), cols) for cols in itertools.combinations(range(n), k)]


def _mask(cols: tuple[int, ...]) -> int:
    mask = 0
    for c in cols:
        mask |= 1 << c
    return mask


def _minors(m: np.ndarray) -> dict[int, Node]:
    """``F[S]``: the determinant of the bottom ``|S|`` rows of ``m`` over the columns ``S`` (a bit mask).

    Laplace along the top row of each: ``F[S] = sum_p (-1)**p * m[r, S_p] * F[S - S_p]``.
    """
    n = m.shape[0]
    minors = {0: _ONE}
    for k in range(1, n + 1):
        r = n - k
        for mask, cols in _column_sets(n, k):
            minors[mask] = B.add(
                *(B.mul(-1 if p % 2 else 1, m[r, j], minors[mask & ~(1 << j)]) for p, j in enumerate(cols))
            )
    return minors


def _cofactors(m: np.ndarray, minors: dict[int, Node]) -> np.ndarray:
    """``C[r, j] = d det / d m[r, j]``: one reverse sweep over the shared minors (the adjugate is ``C.T``)."""
    n = m.shape[0]
    adjoint: dict[int, list] = {(1 << n) - 1: [_ONE]}  # d det / d F[S], as the terms of a sum
    terms: list[list[list]] = [[[] for _ in range(n)] for _ in range(n)]
    for k in range(n, 0, -1):
        r = n - k
        for mask, cols in _column_sets(n, k):
            g = B.add(*adjoint.pop(mask))
            for p, j in enumerate(cols):
                sign, rest = (-1 if p % 2 else 1), mask & ~(1 << j)
                terms[r][j].append(B.mul(sign, g, minors[rest]))
                if rest:
                    adjoint.setdefault(rest, []).append(B.mul(sign, g, m[r, j]))
    out = np.empty((n, n), dtype=object)
    for r, j in np.ndindex(n, n):
        out[r, j] = B.add(*terms[r][j])
    return out


def det(a):
    """The determinant (numpy's ``linalg.det``) of a square matrix or of each of a stack, exactly (n <= 8)."""
    x = _square(a, "det")
    n = x.shape[-1]
    out = np.empty(x.shape[:-2], dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = _minors(x[idx])[(1 << n) - 1]
    return _result(out)


def _adjugates(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The adjugate and the determinant of each matrix of the stack ``x``."""
    n = x.shape[-1]
    adj = np.empty(x.shape, dtype=object)
    dets = np.empty(x.shape[:-2], dtype=object)
    for idx in np.ndindex(*dets.shape):
        minors = _minors(x[idx])
        adj[idx] = _cofactors(x[idx], minors).T
        dets[idx] = minors[(1 << n) - 1]
    return adj, dets


def inv(a):
    """The inverse (numpy's ``linalg.inv``), the adjugate over the determinant: inf/nan where singular (n <= 8)."""
    x = _square(a, "inv")
    adj, dets = _adjugates(x)
    recip = B.elementwise(lambda d: B.pow(d, -1), dets)
    return _result(B.elementwise(B.mul, adj, np.asarray(recip, dtype=object)[..., None, None]))


def solve(a, b):
    """``x`` with ``a @ x == b`` (numpy's ``linalg.solve``): ``adj(a) @ b / det(a)``, exactly (n <= 8).

    As numpy 2 does, a 1-D ``b`` is one right-hand side (the result has a's stack shape plus
    ``(n,)``); otherwise ``b`` is a stack of ``(n, k)`` matrices, broadcast against ``a``'s stack.
    """
    x = _square(a, "solve")
    rhs = _objects(b)
    n = x.shape[-1]
    vector = rhs.ndim == 1
    if vector:
        rhs = rhs[:, None]
    if rhs.ndim < 2 or rhs.shape[-2] != n:
        raise ShapeError(
            f"solve: b of shape {np.shape(b)} does not fit a of shape {x.shape}: b must be (n,) or (..., n, k), n = {n}"
        )
    try:
        np.broadcast_shapes(x.shape[:-2], rhs.shape[:-2])
    except ValueError:
        raise ShapeError(f"solve: the stacks of a {x.shape} and b {np.shape(b)} do not broadcast") from None
    adj, dets = _adjugates(x)
    recip = np.asarray(B.elementwise(lambda d: B.pow(d, -1), dets), dtype=object)
    out = np.asarray(B.elementwise(B.mul, _objects(matmul(adj, rhs)), recip[..., None, None]), dtype=object)
    return _result(out[..., 0] if vector else out)


# -- traces, norms, products -------------------------------------------------------------------


def _int(value, what: str, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{fn}: {what} must be an int, got {value!r}")
    return int(value)


def _one_axis(value, shape: tuple[int, ...], what: str, fn: str) -> int:
    """One axis of an array of ``shape``, non-negative; a 0-d array has none (numpy's AxisError, not sum's leniency)."""
    axis = _int(value, what, fn)
    if not shape:
        raise AxisError(f"{fn}: axis {axis} is out of range for an array of shape () (0 dimensions)")
    return _axes(axis, shape)[0]


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """The sum along a diagonal (numpy's ``trace``): of a matrix, or for each matrix of a stack."""
    _refuse_numeric_options("sg.trace", dtype, out)
    x = _objects(a)
    if x.ndim < 2:
        raise ShapeError(f"trace needs an array of at least two dimensions, got shape {x.shape}")
    ax1 = _one_axis(axis1, x.shape, "axis1", "trace")
    ax2 = _one_axis(axis2, x.shape, "axis2", "trace")
    if ax1 == ax2:
        raise AxisError(f"trace: axis1 and axis2 name the same axis ({axis1} and {axis2})")
    return sum(np.diagonal(x, _int(offset, "offset", "trace"), ax1, ax2), axis=-1)


def outer(a, b, out=None):
    """The outer product (numpy's ``outer``) of the flattened operands."""
    _refuse_numeric_options("sg.outer", out=out)
    u, v = np.ravel(_objects(a)), np.ravel(_objects(b))
    return _result(B.elementwise(B.mul, u[:, None], v[None, :]))


def _axis_list(value, shape: tuple[int, ...], fn: str) -> list[int]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return [_one_axis(i, shape, "axes", fn) for i in items]


def tensordot(a, b, axes=2):
    """numpy's ``tensordot``: sums over the last ``axes`` axes of ``a`` and first of ``b``, or the pair given."""
    x, y = _objects(a), _objects(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n > min(x.ndim, y.ndim):
            raise ShapeError(f"tensordot: axes={n} for operands of shapes {x.shape} and {y.shape}")
        axes_a, axes_b = list(range(x.ndim - n, x.ndim)) if n > 0 else [], list(range(n)) if n > 0 else []
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise InputError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
        axes_a = _axis_list(first, x.shape, "tensordot")
        axes_b = _axis_list(second, y.shape, "tensordot")
    if len(axes_a) != len(axes_b):
        raise ShapeError(f"tensordot: {len(axes_a)} axes of a paired with {len(axes_b)} of b")
    for i, j in zip(axes_a, axes_b):
        if x.shape[i] != y.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of a (size {x.shape[i]}) and {j} of b (size {y.shape[j]}) differ")
    if len(set(axes_a)) != len(axes_a) or len(set(axes_b)) != len(axes_b):
        raise AxisError(f"tensordot: axes {axes!r} name an axis twice")
    free_a = [d for d in range(x.ndim) if d not in axes_a]
    free_b = [d for d in range(y.ndim) if d not in axes_b]
    k = math.prod(x.shape[i] for i in axes_a)
    rows, cols = tuple(x.shape[d] for d in free_a), tuple(y.shape[d] for d in free_b)
    # sizes, not -1: with an empty summed axis (k = 0) numpy cannot infer the other one
    left = np.transpose(x, free_a + axes_a).reshape(math.prod(rows), k)
    right = np.transpose(y, axes_b + free_b).reshape(k, math.prod(cols))
    shape = rows + cols
    return numpy_typed(_result(_objects(matmul(left, right)).reshape(shape)), np.tensordot, (a, b), {"axes": axes})


def _largest(x, axis: int, keepdims: bool):
    """``amax`` along one axis, 0 along an empty one (numpy 2's inf- and 1-norms: a norm of no elements is 0)."""
    empty = _objects(x).shape[axis] == 0  # an initial only there: a maximum with 0 would halve the slope at 0
    return amax(x, axis=axis, keepdims=keepdims, initial=0.0 if empty else None)


def _vector_norm(x: np.ndarray, ord, axis: int, keepdims: bool):
    if ord is None or ord == 2:
        return sqrt(sum(square(x), axis=axis, keepdims=keepdims))
    magnitude = B.elementwise(lambda v: B.call("abs", v), x)
    if ord == math.inf:
        return _largest(magnitude, axis, keepdims)
    if ord == -math.inf:
        return amin(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:
        return sum(B.elementwise(lambda v: B.call("ne", v, 0), x), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(magnitude, axis=axis, keepdims=keepdims)
    powered = sum(B.elementwise(lambda v: B.pow(v, ord), magnitude), axis=axis, keepdims=keepdims)
    return B.elementwise(lambda v: B.pow(v, 1 / ord), powered)


def _matrix_norm(x: np.ndarray, ord, row: int, col: int, keepdims: bool):
    if ord in (2, -2, "nuc"):
        raise UnsupportedOpError(
            f"numpy.linalg.norm(ord={ord!r}) of a matrix",
            hint="It needs singular values; use ord=None ('fro'), 1, -1, inf or -inf.",
        )
    if ord is None or ord in ("fro", "f"):
        out = sqrt(sum(square(x), axis=(row, col), keepdims=keepdims))
    elif ord in (1, -1, math.inf, -math.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)  # 1: columns' sums; inf: rows'
        pick = _largest if ord > 0 else amin
        magnitude = B.elementwise(lambda v: B.call("abs", v), x)
        sums = sum(magnitude, axis=summed, keepdims=True)
        out = pick(sums, axis=other, keepdims=True)
        if not keepdims:
            out = _result(_objects(out).squeeze(axis=(row, col)))
    else:
        raise InputError(f"norm: ord={ord!r} is not a matrix norm (None, 'fro', 1, -1, inf, -inf)")
    return out


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """numpy's ``linalg.norm``: vector norms over one axis, matrix norms over two, the 2-norm of all by default.

    Its derivative at 0 is nan for the 2-norm and Frobenius norm (0 * inf), as JAX's; the
    1- and inf-norms follow ``abs``'s and ``maximum``'s conventions at their kinks.
    """
    a = _objects(x)
    if isinstance(ord, Node) or not (ord is None or isinstance(ord, (str, int, float, np.integer, np.floating))):
        raise InputError(f"norm: ord must be a number, inf, -inf, 'fro' or 'nuc', got {ord!r}")
    if axis is None:
        if ord is None or (ord in ("f", "fro") and a.ndim == 2) or (ord == 2 and a.ndim == 1):
            out = sqrt(sum(square(a)))
            return _result(_objects(out).reshape((1,) * a.ndim)) if keepdims else out
        axis = tuple(range(a.ndim))
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    normalized = [_one_axis(i, a.shape, "axis", "norm") for i in axes]
    if len(normalized) == 1:
        if isinstance(ord, str):
            raise InputError(f"norm: ord={ord!r} is not a vector norm (a number, inf or -inf)")
        return _vector_norm(a, ord, normalized[0], keepdims)
    if len(normalized) == 2:
        if normalized[0] == normalized[1]:
            raise AxisError(f"norm: axis {axis!r} names an axis twice")
        return _matrix_norm(a, ord, normalized[0], normalized[1], keepdims)
    raise ShapeError(f"norm: axis={axis!r} names {len(normalized)} axes; a norm is over one axis or two")


# -- einsum ------------------------------------------------------------------------------------


def _einsum_terms(subscripts: str, arrays: list[np.ndarray]) -> tuple[list[list], list, dict]:
    """Each operand's labels (letters; ``("...", k)`` for broadcast dimensions), the output's, and each label's size."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    if "->" in rhs:
        raise InputError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    inputs = lhs.split(",")
    if len(inputs) != len(arrays):
        raise InputError(f"einsum: subscripts {subscripts!r} name {len(inputs)} operands, {len(arrays)} given")
    parsed = [_einsum_split(term, subscripts) for term in inputs]
    broadcast = []
    for k, ((before, after, ellipsis), x) in enumerate(zip(parsed, arrays)):
        extra = x.ndim - len(before) - len(after)
        if extra < 0 or (extra and not ellipsis):
            raise ShapeError(f"einsum: operand {k} has shape {x.shape}, but its subscripts {inputs[k]!r} do not fit it")
        broadcast.append(extra)
    width = max(broadcast, default=0)
    labels = [
        list(before) + [("...", width - extra + i) for i in range(extra)] + list(after)
        for (before, after, _), extra in zip(parsed, broadcast)
    ]
    sizes: dict = {}
    for k, (names, x) in enumerate(zip(labels, arrays)):
        for name, size in zip(names, x.shape):
            known = sizes.get(name, 1)
            if size != known and 1 not in (size, known):
                raise ShapeError(f"einsum: {name!r} has size {known} in one operand and {size} in operand {k}")
            sizes[name] = max(size, known) if 0 not in (size, known) else 0
    ellipsis = [("...", i) for i in range(width)]
    if arrow:
        before, after, has_ellipsis = _einsum_split(rhs, subscripts)
        if width and not has_ellipsis:
            raise ShapeError(f"einsum: {subscripts!r} broadcasts dimensions ('...') its output does not name")
        output = list(before) + (ellipsis if has_ellipsis else []) + list(after)
        for name in before + after:
            if name not in sizes:
                raise InputError(f"einsum: the output subscript {name!r} appears in no operand")
            if (before + after).count(name) > 1:
                raise InputError(f"einsum: the output subscript {name!r} appears twice")
    else:
        counts = [n for names in labels for n in names if isinstance(n, str)]
        output = ellipsis + sorted(n for n in set(counts) if counts.count(n) == 1)
    return labels, output, sizes


def _einsum_split(term: str, subscripts: str) -> tuple[str, str, bool]:
    before, dots, after = term.partition("...")
    for c in before + after:
        if not (c.isascii() and c.isalpha()):
            raise InputError(f"einsum: {c!r} in {subscripts!r} is not a subscript (letters, '...', ',' and '->')")
    return before, after, bool(dots)


def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """numpy's ``einsum`` (explicit ``->`` and implicit mode, ``...``, repeated labels): one n-ary sum per element."""
    _refuse_numeric_options("sg.einsum", dtype, out)
    if not isinstance(subscripts, str):
        raise UnsupportedOpError("einsum with operand/sublist pairs", hint="Write the subscripts as 'ij,jk->ik'.")
    arrays = [_objects(x) for x in operands]
    labels, output, sizes = _einsum_terms(subscripts, arrays)
    summed = [n for names in labels for n in names if n not in output]
    summed = list(dict.fromkeys(summed))
    shape = tuple(sizes[n] for n in output)
    span = math.prod(sizes[n] for n in summed)
    if math.prod(shape) * span > MAX_EINSUM_TERMS:
        raise ShapeError(f"einsum {subscripts!r}: {math.prod(shape) * span:,} products, over {MAX_EINSUM_TERMS:,}")
    result = np.empty(shape, dtype=object)
    ranges = [range(sizes[n]) for n in summed]
    for idx in np.ndindex(*shape):
        at = dict(zip(output, idx))
        products = []
        for inner in itertools.product(*ranges):
            at.update(zip(summed, inner))
            factors = [
                x[tuple(0 if d == 1 else at[n] for n, d in zip(names, x.shape))] for names, x in zip(labels, arrays)
            ]
            products.append(B.mul(*factors))
        result[idx] = B.add(*products)
    return numpy_typed(_result(result), np.einsum, (subscripts, *operands))


# -- joining and reshaping: numpy's own on object arrays ---------------------------------------


def _numpy(fn: str, call, *args, **kwargs):
    """``call`` on object arrays, numpy's errors as symgrad's (naming ``fn``), the result a SymbolicArray."""
    try:
        return _result(call(*args, **kwargs))
    except SymgradError:
        raise
    except _NumpyAxisError as exc:
        raise AxisError(f"{fn}: {exc}") from None
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"{fn}: {exc}") from None
    except TypeError as exc:  # a shape or axes that are not integers
        raise InputError(f"{fn}: {exc}") from None


def _sequence(arrays, fn: str) -> list[np.ndarray]:
    if isinstance(arrays, Node) or (isinstance(arrays, np.ndarray) and arrays.ndim == 0):
        raise InputError(f"{fn} takes a sequence of arrays, got a scalar")
    return [_objects(v) for v in arrays]


def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    """numpy's ``concatenate`` (``axis=None``: of the flattened arrays)."""
    _refuse_numeric_options("sg.concatenate", dtype, out)
    return _numpy("concatenate", np.concatenate, _sequence(arrays, "concatenate"), axis=axis)


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """numpy's ``stack``: the arrays (of one shape) along a new axis."""
    _refuse_numeric_options("sg.stack", dtype, out)
    return _numpy("stack", np.stack, _sequence(arrays, "stack"), axis=axis)


def hstack(tup, *, dtype=None, casting="same_kind"):
    """numpy's ``hstack``."""
    _refuse_numeric_options("sg.hstack", dtype)
    return _numpy("hstack", np.hstack, _sequence(tup, "hstack"))


def vstack(tup, *, dtype=None, casting="same_kind"):
    """numpy's ``vstack``."""
    _refuse_numeric_options("sg.vstack", dtype)
    return _numpy("vstack", np.vstack, _sequence(tup, "vstack"))


def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """numpy's ``reshape`` (``shape=`` or numpy's older ``newshape=``)."""
    if shape is None:
        shape = newshape
    if shape is None:
        raise InputError("reshape needs a shape")
    return _numpy("reshape", np.reshape, _objects(a), shape, order=order)


def transpose(a, axes=None):
    """numpy's ``transpose`` (all axes reversed, or permuted as ``axes`` says)."""
    return _numpy("transpose", np.transpose, _objects(a), axes)
