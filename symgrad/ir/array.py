"""Arrays of symbolic values that behave like numpy arrays: comparisons, ``==`` and every ufunc elementwise.

A plain numpy object array of nodes cannot compare: ``v > 0`` runs numpy's
object comparison loop, which asks each element's result for a truth value, and
a symbolic condition has none.  :class:`SymbolicArray` is an object ndarray
(indexing, slicing, ``.T``, ``.shape`` and broadcasting stay numpy's own) whose
ufuncs and numpy functions go through symgrad's numpy protocol, the same one a
single :class:`~symgrad.ir.node.Node` uses, so ``v > 0``, ``v == w``,
``np.maximum(v, 0)``, ``np.where(v > 0, v, 0)`` and ``v.max()`` give arrays of
symbolic values.  Every array symgrad builds is one of these.
"""

from __future__ import annotations

import numpy as np

from ..errors import TraceError, _ArrayTruthError
from .node import PROTOCOL, Node, free_symbols


class SymbolicArray(np.ndarray):
    """An object array of symbolic values (nodes and numbers) with numpy's elementwise semantics."""

    __array_priority__ = 1001  # above Node's, so a mixed operation is this array's

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = tuple(_plain(v) for v in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(v) for v in out)
        # scipy.special's ufuncs that the op table names (erf, expit) go to the protocol like numpy's
        known = PROTOCOL.element_method is not None and PROTOCOL.element_method(ufunc.__name__) is not None
        if (getattr(np, ufunc.__name__, None) is not ufunc and not known) or PROTOCOL.array_ufunc is None:
            # not one of numpy's own ufuncs (np.frompyfunc, np.vectorize): run it on the elements
            return symbolic_array(getattr(ufunc, method)(*plain, **kwargs))
        # a boolean array stays one: numpy's + of two is a logical or (the protocol asks their type)
        operands = tuple(v if isinstance(v, BooleanArray) else p for v, p in zip(inputs, plain))
        result = symbolic_array(PROTOCOL.array_ufunc(ufunc, method, operands, kwargs))
        # written into out=, the result is out itself, as numpy's: a += b keeps a's type (a boolean one stays one)
        return out[0] if out is not None and len(out) == 1 and isinstance(out[0], SymbolicArray) else result

    def __array_function__(self, func, types, args, kwargs):
        if PROTOCOL.array_function is None:
            return super().__array_function__(func, types, args, kwargs)
        # the operands as they are: a boolean array's type decides what its products are (np.dot of two)
        return symbolic_array(PROTOCOL.array_function(func, types, args, kwargs))

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except IndexError:
            _refuse_symbolic_index(key)
            raise

    def __setitem__(self, key, value) -> None:
        try:
            super().__setitem__(key, value)
        except IndexError:
            _refuse_symbolic_index(key)
            raise

    # sympy's expression methods, elementwise (as on a sympy Matrix)
    def subs(self, *args, **kwargs) -> SymbolicArray:
        """``A.subs(x, 2)`` and sympy's other forms (see :meth:`Node.subs`), on every element."""
        from .subs import subs  # subs imports the node module, which imports this one

        flat = self.view(np.ndarray).reshape(-1)
        where = [i for i, v in enumerate(flat) if isinstance(v, Node)]
        out = flat.copy()
        for i, v in zip(where, subs([flat[i] for i in where], args, kwargs)):
            out[i] = v
        return out.reshape(self.shape).view(SymbolicArray)

    def diff(self, *spec, **kwargs):
        """``A.diff(x)``: ``sg.diff(A, ...)``, elementwise."""
        return PROTOCOL.diff(self, *spec, **kwargs)

    @property
    def free_symbols(self) -> set:
        """The symbols the elements depend on, as a set."""
        return set(free_symbols([v for v in self.flat if isinstance(v, Node)]))

    # numpy's reduction methods, as the numpy functions of the same name (so symgrad's, through
    # __array_function__): ndarray's own would divide into a buffer (x.std(), x.mean(axis=0))
    def sum(self, *args, **kwargs):
        return _as_function(np.sum, self, args, kwargs)

    def prod(self, *args, **kwargs):
        return _as_function(np.prod, self, args, kwargs)

    def mean(self, *args, **kwargs):
        return _as_function(np.mean, self, args, kwargs)

    def var(self, *args, **kwargs):
        return _as_function(np.var, self, args, kwargs)

    def std(self, *args, **kwargs):
        return _as_function(np.std, self, args, kwargs)

    def max(self, *args, **kwargs):
        return _as_function(np.max, self, args, kwargs)

    def min(self, *args, **kwargs):
        return _as_function(np.min, self, args, kwargs)

    def cumsum(self, *args, **kwargs):
        return _as_function(np.cumsum, self, args, kwargs)

    def cumprod(self, *args, **kwargs):
        return _as_function(np.cumprod, self, args, kwargs)

    def trace(self, *args, **kwargs):
        return _as_function(np.trace, self, args, kwargs)

    def clip(self, *args, **kwargs):  # ndarray's own runs numpy's clip ufunc, whose object loop compares elements
        return _as_function(np.clip, self, args, kwargs)

    def dot(self, *args, **kwargs):
        return _as_function(np.dot, self, args, kwargs)

    def __bool__(self) -> bool:
        if self.size == 1:
            return bool(self.reshape(-1)[0])
        raise _ArrayTruthError(
            "the truth value of an array with more than one element is ambiguous; "
            "use sg.where(cond, a, b) for an elementwise choice"
        )


class BooleanArray(SymbolicArray):
    """A symbolic array numpy would type bool: the result of a comparison or a logical operation.

    Its elements are 0/1 conditions, as are those of ``(v > 0)*1.0`` or
    ``np.where(v > 0, 1.0, 0.0)``, which numpy types float (``1.0*c`` folds to
    ``c``), so the type lives on the array: ``+`` of two boolean arrays is
    numpy's logical or, of anything else the sum.  Arithmetic gives a plain
    :class:`SymbolicArray`; views (slices, ``.T``, reshapes) stay boolean.
    """


def boolean_array(value):
    """``value`` (an array from a comparison or a logical operation) as a :class:`BooleanArray`; a scalar as it is."""
    return value.view(BooleanArray) if isinstance(value, np.ndarray) and value.dtype == object else value


def _refuse_symbolic_index(key) -> None:
    """A TraceError if ``key`` holds a symbolic value (``a[a > 0]``, ``a[i]`` with ``i`` traced): numpy refused it."""
    parts = key if isinstance(key, tuple) else (key,)
    for part in parts:
        try:
            values = np.asarray(part, dtype=object).flat if isinstance(part, (list, np.ndarray)) else [part]
        except ValueError:  # a ragged list: numpy's own IndexError says what is wrong with it
            continue
        symbolic = next((v for v in values if isinstance(v, Node)), None)
        if symbolic is not None:
            raise TraceError(
                f"cannot index a symbolic array with the symbolic value {symbolic}: which elements a mask or a "
                "traced index picks is known only at run time, so it cannot be followed symbolically; mask with "
                "sg.where(mask, a, 0) (a[mask] = v is a = sg.where(mask, v, a)), and index with integers"
            ) from None


def _as_function(func, array: SymbolicArray, args: tuple, kwargs: dict):
    """``array.<name>(...)`` as ``func(array, ...)`` (the methods take numpy's functions' arguments, in order)."""
    if PROTOCOL.array_function is None:  # the tracing layer not loaded: ndarray's own method
        return getattr(array.view(np.ndarray), func.__name__)(*args, **kwargs)
    return func(array, *args, **kwargs)


def _plain(value):
    return value.view(np.ndarray) if isinstance(value, SymbolicArray) else value


def deep_plain(value):
    """``value`` with every SymbolicArray in it (through lists and tuples) viewed as a plain object ndarray."""
    if isinstance(value, SymbolicArray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(deep_plain(v) for v in value)
    return value


def symbolic_array(value):
    """``value`` with every object ndarray in it (through tuples and lists) viewed as a :class:`SymbolicArray`."""
    if isinstance(value, np.ndarray):
        if value.dtype == object and not isinstance(value, SymbolicArray):
            return value.view(SymbolicArray)
        return value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(symbolic_array(v) for v in value)
    if isinstance(value, list):
        return [symbolic_array(v) for v in value]
    return value
