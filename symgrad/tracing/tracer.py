"""Tracing: call a Python function once on symbolic arguments and keep what it returns.

A scalar argument becomes one symbol, an argument declared with ``shapes=`` an
object array of element symbols.  Failures of numpy or Python on symbolic
values are turned into symgrad errors that say which numpy function could not
be followed and how the arguments were traced.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
import os
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, SymgradError, TraceError, UnsupportedOpError
from ..ir.node import TRACING, symbol
from ..limits import gc_paused
from .functions import array_symbol
from .program import Arg, Param, Program, symbolic_outputs
from .pytree import LEAF, Tree, container_kind, leaf_names

Shapes = dict | Sequence | None


@dataclass(frozen=True)
class ArgSpec:
    """What ``shapes=`` declares for one argument: its pytree structure and each leaf's shape."""

    tree: Tree = LEAF
    shapes: tuple[tuple[int, ...], ...] = ((),)

    @property
    def declared(self) -> bool:
        """Whether this says more than the default (one scalar)."""
        return self != SCALAR


SCALAR = ArgSpec()


def _parameters(fn: Callable) -> list[inspect.Parameter]:
    """``fn``'s parameters, read once per trace (``inspect.signature`` costs ~5 µs; jvp/vjp trace at every call)."""
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def _parameter_names(params: list[inspect.Parameter], nargs: int | None) -> list[str]:
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    required_keywords = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if required_keywords:
        raise InputError(
            f"the function has keyword-only parameter(s) without a default ({', '.join(required_keywords)}): symgrad "
            "traces positional arguments; make them positional, give them a default, or bind them with "
            "functools.partial"
        )
    if nargs is None:
        nargs = len([p for p in positional if p.default is p.empty])
        if nargs == 0 and has_varargs:
            raise InputError(
                "cannot tell how many arguments the function takes (it has *args): declare them with shapes=(...)"
            )
    names = [p.name for p in positional[:nargs]]
    names += [f"arg{i}" for i in range(len(names), nargs)]
    return names


def _normalize_shapes(shapes: Shapes, names: list[str]) -> list[ArgSpec]:
    """Each argument's declared structure and shapes (a scalar where ``shapes`` says nothing)."""
    result: list[ArgSpec] = [SCALAR] * len(names)
    if shapes is None:
        return result
    if isinstance(shapes, dict):
        keys: dict[int, object] = {}  # position -> the key that declared it: a second one would silently win
        for key, shape in shapes.items():
            if isinstance(key, int):
                index = key
            elif key in names:
                index = names.index(key)
            else:
                raise InputError(f"shapes names {key!r}, which is not an argument of the function ({', '.join(names)})")
            if not -len(names) <= index < len(names):
                raise InputError(f"shapes gives position {key}, but the function takes {len(names)} argument(s)")
            index %= len(names)
            if index in keys:
                raise InputError(f"shapes declares argument {names[index]!r} twice, as {keys[index]!r} and as {key!r}")
            keys[index] = key
            result[index] = _arg_spec(shape, key)
        return result
    if not isinstance(shapes, (list, tuple)):
        raise InputError(
            f"shapes must be a dict (argument name or position -> shape) or a list of shapes, one per argument, "
            f"got {type(shapes).__name__} {shapes!r}"
        )
    shapes = list(shapes)
    if len(shapes) > len(names):
        raise InputError(f"shapes gives {len(shapes)} shapes for a function of {len(names)} argument(s)")
    for i, shape in enumerate(shapes):
        result[i] = _arg_spec(shape, names[i])
    return result


def _is_shape(spec) -> bool:
    """A shape (None, an int, or a list/tuple of ints) rather than a pytree of shapes."""
    if isinstance(spec, dict):
        return False
    if isinstance(spec, (list, tuple)):
        return all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in spec)
    return True


def _arg_spec(spec, what) -> ArgSpec:
    """One argument's entry of ``shapes=``: a shape, or a dict/list/tuple of shapes (a pytree, None: a scalar)."""
    if _is_shape(spec):
        return ArgSpec(LEAF, (_shape(spec, what),))
    if isinstance(spec, dict):
        keys, items = tuple(spec), tuple(spec.values())
    else:
        keys, items = tuple(range(len(spec))), tuple(spec)
    subs = [_arg_spec(v, f"{what}.{k}") for k, v in zip(keys, items)]
    tree = Tree(container_kind(spec), keys, tuple(sub.tree for sub in subs))
    return ArgSpec(tree, tuple(s for sub in subs for s in sub.shapes))


def _shape(shape, what) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):  # not iterable, or holding non-numbers ("abc")
        raise InputError(f"the shape of {what!r} must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise InputError(f"the shape of {what!r} has a negative dimension: {out}")
    return out


_ENCLOSING: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("symgrad_enclosing", default=frozenset())
"""The symbol names of the traces running now: a transformation called inside a traced function (``sg.grad(f)``
in the body of another) names its own symbols apart from these, as symbols are one node per name."""


def enclosing_names() -> frozenset[str]:
    """The symbol names of the traces running now (empty outside any trace): what a closure may depend on."""
    return _ENCLOSING.get()


def make_arg(name: str, shape: tuple[int, ...], symbol_name: str | None = None) -> Arg:
    """An argument named ``name`` whose symbols are named ``symbol_name`` (by default ``name``)."""
    base = name if symbol_name is None else symbol_name
    if not shape:
        return Arg(name, (), (symbol(base),))
    return Arg(name, shape, tuple(array_symbol(base, shape).reshape(-1)))


def _unshadowed(names: list[str]) -> list[str]:
    """Symbol names for ``names`` distinct from those of the enclosing traces (underscores appended where needed).

    Were an inner trace's ``x`` the enclosing trace's ``x``, a value closed over
    from outside would be differentiated with respect to the inner argument.
    """
    enclosing = _ENCLOSING.get()
    if not enclosing:
        return names
    taken = enclosing | set(names)
    out = []
    for name in names:
        if name in enclosing:
            while name in taken:
                name += "_"
            taken |= {name}
        out.append(name)
    return out


def make_params(
    names: Sequence[str], specs: Sequence[ArgSpec], start: int = 0
) -> tuple[tuple[Arg, ...], tuple[Param, ...]]:
    """Leaf arguments (numbered from ``start``) and the arguments grouping them, one per name and spec.

    A pytree argument's leaves are named by their key paths (``params.W``), so its
    element symbols print ``params.W[0, 1]``.
    """
    params: list[Param] = []
    leaves: list[tuple[str, tuple[int, ...]]] = []
    for name, spec in zip(names, specs):
        params.append(Param(name, spec.tree, start + len(leaves)))
        leaf = [name] if spec.tree.is_leaf else leaf_names(name, spec.tree)
        leaves.extend(zip(leaf, spec.shapes))
    symbol_names = _unshadowed([n for n, _ in leaves])
    args = [make_arg(n, s, b) for (n, s), b in zip(leaves, symbol_names)]
    return tuple(args), tuple(params)


def trace(fn: Callable, shapes: Shapes = None, nargs: int | None = None) -> Program:
    """Call ``fn`` on symbolic arguments and keep what it returns."""
    params = _parameters(fn)
    if nargs is None and isinstance(shapes, (list, tuple)):
        nargs = max(len(shapes), _required_count(params))
        limit = _positional_limit(params)
        if limit is not None and len(shapes) > limit:
            raise InputError(f"shapes gives {len(shapes)} shapes for a function of {limit} argument(s)")
    elif nargs is not None:
        _check_count(params, nargs)
    elif isinstance(shapes, dict):
        nargs = _declared_count(params, shapes)
    names = _parameter_names(params, nargs)
    args, params = make_params(names, _normalize_shapes(shapes, names))
    program = Program(args, None, params)
    enclosing = _ENCLOSING.get()
    token = _ENCLOSING.set(enclosing | {a.symbols[0].value[0] for a in args if a.symbols})
    try:
        outputs = symbolic_outputs(_call_traced(fn, [program.value(i) for i in range(len(params))], args), none=True)
    finally:
        _ENCLOSING.reset(token)
    return program.with_outputs(outputs)


def _call_traced(fn: Callable, values: list, args: tuple[Arg, ...]):
    """``fn`` on symbolic arguments; numpy's and Python's failures on them become symgrad errors.

    numpy functions that cannot work on symbolic values fail deep inside numpy
    (a cast of an object array to float, a comparison needing a truth value): the
    error is re-raised as one :class:`UnsupportedOpError` naming the numpy function
    the traced code called, with numpy's error kept as its cause (an ``AttributeError``
    of a node's too: numpy asking it for ``.dtype``).  A ``TypeError``
    about a node (``x[0]`` on a scalar argument, ``x % 2``) becomes a TraceError
    that says how each argument was traced.
    """
    token = TRACING.set(True)  # == and != are numpy's elementwise conditions while the function runs
    try:
        with gc_paused():  # a traced loop allocates nodes by the million and frees none in cycles
            return fn(*values)
    except UnsupportedOpError:
        raise
    except (TraceError, TypeError, AttributeError) as exc:  # not ValueError & co.: a bad reshape is the code's own bug
        if isinstance(exc, AttributeError) and "'Node'" not in str(exc):
            raise  # not about a node: the traced code's own
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
                "declared with shapes=, e.g. shapes={'v': (3,)}, and a dict/list/tuple argument (a pytree) is "
                "declared in its structure, e.g. shapes={'params': {'W': (3, 2), 'b': None}} (None: a scalar)"
            ) from exc
        raise
    finally:
        TRACING.reset(token)


_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep


_SYMGRAD_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # the symgrad package


_UFUNC_METHOD = re.compile(r"has no callable (\w+) method")
# a ufunc with no object-dtype loop (np.float_power, scipy's erf) called on a plain object array of nodes
_UFUNC_NO_LOOP = re.compile(r"ufunc '(\w+)' not supported for the input types")


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
    match = (_UFUNC_METHOD.search(str(exc)) or _UFUNC_NO_LOOP.search(str(exc))) if isinstance(exc, TypeError) else None
    if match and frames and not frames[-1].filename.startswith(_SYMGRAD_DIR):
        return f"numpy.{match.group(1)}"
    ufunc = getattr(exc, "ufunc", None)
    return f"numpy.{ufunc.__name__}" if ufunc is not None else None


def _positional_limit(params: list[inspect.Parameter]) -> int | None:
    """How many positional arguments the parameters accept (None: any number, or no signature to read)."""
    if not params:
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _check_count(params: list[inspect.Parameter], nargs: int) -> None:
    """An InputError unless the function takes ``nargs`` positional arguments (not its TypeError from inside the trace)."""
    need, limit = _required_count(params), _positional_limit(params)
    if need <= nargs and (limit is None or nargs <= limit):
        return
    takes = f"{need}" if limit == need else f"{need} to {limit}" if limit is not None else f"at least {need}"
    raise InputError(f"the function takes {takes} positional argument(s), got {nargs}")


def _declared_count(params: list[inspect.Parameter], shapes: dict) -> int | None:
    """The arguments to trace when ``shapes`` declares a parameter with a default (by name or position), else None.

    Those up to the last one it declares, as a list of shapes that long traces:
    a declared parameter is an argument, not left to its default.
    """
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    declared = [names.index(k) if isinstance(k, str) else k for k in shapes if _names_one_of(k, names)]
    count = max(declared, default=-1) + 1
    return count if count > _required_count(params) else None


def _names_one_of(key, names: list[str]) -> bool:
    """Whether a ``shapes`` key declares one of the parameters ``names``, by name or by non-negative position."""
    return key in names if isinstance(key, str) else isinstance(key, int) and 0 <= key < len(names)


def _required_count(params: list[inspect.Parameter]) -> int:
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])
