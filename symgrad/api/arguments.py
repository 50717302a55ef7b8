"""A call's arguments bound to a program's: by position or keyword, pytree arguments flattened to their leaves.

The generated code takes one array per leaf argument; the caller passes the
function's arguments, by position or by name, each a scalar, an array or a
pytree (a dict / list / tuple declared with ``shapes=``).  Every mismatch is an
:class:`~symgrad.errors.InputError` naming the argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from ..errors import InputError
from ..tracing.program import Program
from ..tracing.pytree import check_structure

_MISSING = object()


def bind(program: Program, args: Sequence, kwargs: Mapping[str, object]) -> list:
    """One value per argument of ``program`` (as the caller passes it), from positional and keyword arguments."""
    params = program.params
    names = [p.name for p in params]
    listed = ", ".join(names)
    if len(args) > len(params) or (not kwargs and len(args) != len(params)):
        raise InputError(f"expected {len(params)} argument(s) ({listed}), got {len(args)}")
    values = list(args) + [_MISSING] * (len(params) - len(args))
    for key, value in kwargs.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"got an unexpected keyword argument {key!r}{hint}; the arguments are {listed}")
        i = names.index(key)
        if values[i] is not _MISSING:
            raise InputError(f"got multiple values for argument {key!r} (by position and by keyword)")
        values[i] = value
    missing = [repr(n) for n, v in zip(names, values) if v is _MISSING]
    if missing:
        raise InputError(f"expected {len(params)} argument(s) ({listed}); missing {', '.join(missing)}")
    return values


def flat_leaves(program: Program, values: Sequence) -> tuple:
    """The leaf values the generated code takes, from one value per argument (pytrees checked against theirs)."""
    flat: list = []
    for i, (p, value) in enumerate(zip(program.params, values)):
        if p.tree.is_leaf:
            if is_pytree_value(value):
                raise undeclared_pytree(p.name)
            flat.append(value)
        else:
            flat.extend(check_structure(p.tree, value, f"argument {p.name!r}", program.structure_text(i)))
    return tuple(flat)


def is_pytree_value(value) -> bool:
    """Whether a caller's value is a pytree with dicts in it (a list of numbers is an array, as numpy reads it)."""
    return isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and any(map(is_pytree_value, value)))


def undeclared_pytree(name: str) -> InputError:
    """The error for a pytree given for an argument traced as one array or scalar."""
    return InputError(
        f"argument {name!r} is a pytree (it holds dicts), but it was traced as one array or scalar; declare its "
        f"structure with shapes=, e.g. shapes={{{name!r}: {{'W': (3, 2), 'b': None}}}} (None: a scalar leaf)"
    )


def bind_leaves(program: Program, args: Sequence, kwargs: Mapping[str, object]) -> tuple:
    """:func:`bind` then :func:`flat_leaves`: what a compiled object's generated code is called with."""
    return flat_leaves(program, bind(program, args, kwargs))
