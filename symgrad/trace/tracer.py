"""Tracing: call a Python function once on symbolic arguments and keep what it returns.

A scalar argument becomes one symbol, an argument declared with ``shapes=`` an
object array of element symbols.  Failures of numpy or Python on symbolic
values are turned into symgrad errors that say which numpy function could not
be followed and how the arguments were traced.
"""

from __future__ import annotations

import inspect
import itertools
import os
import re
import traceback
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InputError, SymgradError, TraceError, UnsupportedOpError
from ..ir.node import symbol
from .functions import array_symbol
from .program import Arg, Program, symbolic_outputs

Shapes = dict | Sequence | None


Shapes = dict | Sequence | None


def _parameter_names(fn: Callable, nargs: int | None) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if nargs is None:
        nargs = len([p for p in positional if p.default is p.empty])
        if nargs == 0 and has_varargs:
            raise InputError(
                "cannot tell how many arguments the function takes (it has *args): declare them with shapes=(...)"
            )
    names = [p.name for p in positional[:nargs]]
    names += [f"arg{i}" for i in range(len(names), nargs)]
    return names


def _normalize_shapes(shapes: Shapes, names: list[str]) -> list[tuple[int, ...]]:
    result: list[tuple[int, ...]] = [()] * len(names)
    if shapes is None:
        return result
    if isinstance(shapes, dict):
        for key, shape in shapes.items():
            if isinstance(key, int):
                index = key
            elif key in names:
                index = names.index(key)
            else:
                raise InputError(f"shapes names {key!r}, which is not an argument of the function ({', '.join(names)})")
            if not -len(names) <= index < len(names):
                raise InputError(f"shapes gives position {key}, but the function takes {len(names)} argument(s)")
            result[index] = _shape(shape, key)
        return result
    shapes = list(shapes)
    if len(shapes) > len(names):
        raise InputError(f"shapes gives {len(shapes)} shapes for a function of {len(names)} argument(s)")
    for i, shape in enumerate(shapes):
        result[i] = _shape(shape, names[i])
    return result


def _shape(shape, what) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise InputError(f"the shape of {what!r} must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise InputError(f"the shape of {what!r} has a negative dimension: {out}")
    return out


def make_arg(name: str, shape: tuple[int, ...]) -> Arg:
    if not shape:
        return Arg(name, (), (symbol(name),))
    return Arg(name, shape, tuple(array_symbol(name, shape).reshape(-1)))


def trace(fn: Callable, shapes: Shapes = None, nargs: int | None = None) -> Program:
    """Call ``fn`` on symbolic arguments and keep what it returns."""
    if nargs is None and isinstance(shapes, (list, tuple)):
        nargs = max(len(shapes), _required_count(fn))
    names = _parameter_names(fn, nargs)
    args = tuple(make_arg(n, s) for n, s in zip(names, _normalize_shapes(shapes, names)))
    outputs = _call_traced(fn, args)
    return Program(args, symbolic_outputs(outputs))


def _call_traced(fn: Callable, args: tuple[Arg, ...]):
    """``fn`` on symbolic arguments; numpy's and Python's failures on them become symgrad errors.

    numpy functions that cannot work on symbolic values fail deep inside numpy
    (a cast of an object array to float, a comparison needing a truth value): the
    error is re-raised as one :class:`UnsupportedOpError` naming the numpy function
    the traced code called, with numpy's error kept as its cause.  A ``TypeError``
    about a node (``x[0]`` on a scalar argument, ``x % 2``) becomes a TraceError
    that says how each argument was traced.
    """
    try:
        return fn(*(a.value for a in args))
    except UnsupportedOpError:
        raise
    except (TraceError, TypeError) as exc:  # not ValueError & co.: a bad reshape is the traced code's own bug
        entry = _numpy_entry(exc)
        if entry is not None:
            reason = (
                "it needs the numeric or truth value of a symbolic value"
                if isinstance(exc, SymgradError)
                else f"numpy raised {type(exc).__name__}: {exc}"
            )
            raise UnsupportedOpError(
                entry, hint=f"It cannot work on symbolic values ({reason}). Write it with symgrad's functions."
            ) from exc
        if isinstance(exc, TypeError) and not isinstance(exc, SymgradError) and "'Node'" in str(exc):
            traced = ", ".join(f"{a.name}: {'a scalar' if not a.shape else f'shape {a.shape}'}" for a in args)
            raise TraceError(
                f"{exc} -- the traced arguments are symbolic ({traced}); arguments are scalars unless "
                "declared with shapes=, e.g. shapes={'v': (3,)}"
            ) from exc
        raise


_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep


_SYMGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # the symgrad package


_UFUNC_METHOD = re.compile(r"has no callable (\w+) method")


def _public_name(path: str, name: str) -> str:
    """``numpy.linalg.inv`` for ``inv`` in ``linalg/_linalg.py``; ``numpy.median`` for ``lib/_function_base_impl.py``."""
    package = path.split(os.sep)[0]
    if package in ("linalg", "fft", "random", "polynomial") and hasattr(getattr(np, package), name):
        return f"numpy.{package}.{name}"
    return f"numpy.{name}"


def _numpy_entry(exc: BaseException) -> str | None:
    """The numpy function the traced code called when ``exc`` was raised inside it, e.g. ``numpy.linalg.inv``."""
    frames = traceback.extract_tb(exc.__traceback__)
    for caller, callee in itertools.pairwise(frames):
        if callee.filename.startswith(_NUMPY_DIR) and not caller.filename.startswith((_NUMPY_DIR, _SYMGRAD_DIR)):
            return _public_name(callee.filename[len(_NUMPY_DIR) :], callee.name)
    # a ufunc's object loop called from the traced code itself: numpy names the missing method
    match = _UFUNC_METHOD.search(str(exc)) if isinstance(exc, TypeError) else None
    if match and frames and not frames[-1].filename.startswith(_SYMGRAD_DIR):
        return f"numpy.{match.group(1)}"
    ufunc = getattr(exc, "ufunc", None)
    return f"numpy.{ufunc.__name__}" if ufunc is not None else None


def _required_count(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])
