"""Conversion between symgrad graphs and sympy expressions, LaTeX, and deep simplification.

symgrad simplifies locally as it builds (:mod:`symgrad.ir.builders`); sympy can find
identities that need global reasoning (``sin(x)**2 + cos(x)**2 -> 1``).  This
bridge lets the two meet without giving up symgrad's guarantees:

- Both directions are iterative over the graph (deep graphs are normal in
  symgrad: a Python loop of 100,000 steps is a chain that deep).  sympy's own
  constructors recurse on depth when they evaluate, so nodes deeper than
  :data:`EVAL_DEPTH` are built unevaluated (their operands are canonical
  already, so little is lost).
- Back from sympy, every node goes through the simplifying builders, so the
  result is canonical and a round trip gives the very same node, wherever
  sympy's own evaluation keeps the form (it rewrites ``sin(-x)`` as
  ``-sin(x)`` and ``exp(a)**2`` as ``exp(2*a)``: equal, not identical).
- Symbols are real (``real=True``), since symgrad's values are real numbers:
  sympy then simplifies ``sqrt(x**2)`` to ``Abs(x)``, not to a complex branch.
- Strings are refused: sympy's parser runs ``eval``, and this bridge must be
  safe on any input.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.basic import Basic
from sympy.core.containers import Tuple
from sympy.core.function import AppliedUndef
from sympy.core.numbers import Infinity, NaN, NegativeInfinity, NumberSymbol
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.logic.boolalg import ITE, And, Boolean, BooleanFalse, BooleanTrue, Not, Or

from .errors import InputError, UnsupportedOpError
from .ir import builders as B
from .ir import softmax as S
from .ir.custom import E, op_of, pi, registered
from .ir.node import Node, const, symbol, toposort
from .ir.ops import COMPARISONS, OPS
from .tracing.pytree import container_kind, sequence_of

__all__ = ["EVAL_DEPTH", "MAX_NESTING", "from_sympy", "latex", "simplify", "to_sympy"]

EVAL_DEPTH = 64
"""Nodes deeper than this are built with sympy's evaluation off (sympy recurses on depth when it evaluates)."""

_NUMBERS = (int, float, Fraction, bool, np.integer, np.floating)
_COMPARISONS = {name: getattr(sp, OPS[name].sympy_types[0]) for name in COMPARISONS}  # lt -> sp.StrictLessThan
_SYMBOLS: dict[str, sp.Symbol] = {}
_STOP_GRADIENT = sp.Function("stop_gradient", real=True)
_INDEXED = re.compile(r"^(.+?)\[(\d+(?:\s*,\s*\d+)*)\]$")


# -- softmax, log_softmax and logsumexp by name ------------------------------------------------


def _values_of(printer, values) -> str:
    """``z`` for the sympy symbols ``z[0], ..., z[n-1]`` (an array symbol's elements in order), else a list."""
    names = [v.name if isinstance(v, sp.Symbol) else None for v in values]
    found = [_INDEXED.match(n) if n else None for n in names]
    if values and all(found):
        base = found[0].group(1)
        head = [int(i) for i in found[0].group(2).split(",")]
        wanted = [f"{base}[{', '.join(map(str, head[:-1] + [k]))}]" for k in range(len(values))]
        if head[-1] == 0 and names == wanted:
            prefix = ", ".join(map(str, head[:-1]))
            return printer._print(sp.Symbol(base + (f"[{prefix}]" if prefix else "")))
    return ", ".join(printer._print(v) for v in values)


class _Named(sp.Function):
    """A softmax-family function sympy keeps whole: it prints by name, differentiates, and rewrites to exp/log.

    ``sg.latex`` and ``sg.simplify`` use these, so ``softmax(z)[0]`` stays readable;
    ``sg.to_sympy`` gives the explicit math instead (what sympy can evaluate and decide).
    """

    def _eval_is_real(self):
        return True

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)


class _LogSumExp(_Named):
    """``logsumexp(z_1, ..., z_n)``."""

    def fdiff(self, argindex=1):
        return _Softmax(sp.Integer(argindex - 1), *self.args)

    def _eval_rewrite_as_exp(self, *args, **hints):
        return sp.log(sp.Add(*(sp.exp(a) for a in args)))

    def _sympystr(self, printer):
        return f"logsumexp({_values_of(printer, self.args)})"

    def _latex(self, printer):
        return rf"\operatorname{{logsumexp}}\left({_values_of(printer, self.args)}\right)"


class _Element(_Named):
    """``softmax(z)[i]`` and ``log_softmax(z)[i]``: the arguments are ``(i, z_1, ..., z_n)``."""

    kind = ""

    def fdiff(self, argindex=1):
        i, j = int(self.args[0]), argindex - 2
        if j < 0:
            raise sp.ArgumentIndexError(self, argindex)
        s_j = _Softmax(sp.Integer(j), *self.args[1:])
        delta = sp.Integer(int(i == j))
        return self * (delta - s_j) if self.kind == "softmax" else delta - s_j

    def _eval_rewrite_as_exp(self, i, *values, **hints):
        total = sp.log(sp.Add(*(sp.exp(v) for v in values)))
        value = values[int(i)]
        return sp.exp(value - total) if self.kind == "softmax" else value - total

    def _sympystr(self, printer):
        return f"{self.kind}({_values_of(printer, self.args[1:])})[{self.args[0]}]"

    def _latex(self, printer):
        name = self.kind.replace("_", r"\_")
        return rf"\operatorname{{{name}}}\left({_values_of(printer, self.args[1:])}\right)_{{{self.args[0]}}}"


class _Softmax(_Element):
    kind = "softmax"


class _LogSoftmax(_Element):
    kind = "log_softmax"


def _named_sympy(node: Node, memo: dict):
    """The softmax-family node as one of the sympy functions above."""
    kind = S.kind_of(node)
    if kind == "logsumexp":
        return _LogSumExp(*(memo[a] for a in node.args))
    cls = _Softmax if kind == "softmax" else _LogSoftmax
    return cls(sp.Integer(node.value.index), *(memo[a] for a in node.args[1].args))


# -- symgrad -> sympy -------------------------------------------------------------


def _sympy_number(value) -> sp.Expr:
    if isinstance(value, (bool, int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    value = float(value)
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    return sp.Float(value)


def _sympy_symbol(name: str) -> sp.Symbol:
    sym = _SYMBOLS.get(name)
    if sym is None:
        sym = _SYMBOLS[name] = sp.Symbol(name, real=True)
    return sym


def _piecewise(a, cond, b):
    """``Piecewise((a, cond), (b, True))``, built directly.

    sympy's constructor walks the condition as a tree (exponential on a
    shared DAG) and rewrites a condition holding a Piecewise into nested
    ``ITE``s, which grows exponentially along a chain of selects.
    """
    if cond is sp.true:
        return a
    if cond is sp.false:
        return b
    return Basic.__new__(sp.Piecewise, Tuple.__new__(ExprCondPair, a, cond), Tuple.__new__(ExprCondPair, b, sp.true))


_SELECTS = frozenset(_COMPARISONS) | {"where"}


def _convert(node: Node, memo: dict, rel: dict, opaque_stop: bool, names: bool = False):
    """The sympy form of one node whose operands are in ``memo``; ``rel`` holds comparisons as relationals.

    ``names`` keeps softmax, log_softmax and logsumexp as named sympy functions.
    """
    op = node.op
    if op == "const":
        return _sympy_number(node.value)
    if op == "sym":
        return _sympy_symbol(node.name)
    args = [memo[a] for a in node.args]
    if op in _COMPARISONS:
        rel[node] = _COMPARISONS[op](*args)
        return _piecewise(sp.Integer(1), rel[node], sp.Integer(0))
    if op == "where":
        c = node.args[0]
        cond = rel[c] if c in rel else sp.Ne(args[0], 0)
        return _piecewise(args[1], cond, args[2])
    if op == "stop_gradient" and opaque_stop:
        return _STOP_GRADIENT(args[0])
    if names and S.kind_of(node):
        return _named_sympy(node, memo)
    return op_of(node).sympy(sp, *args)  # a custom function: sympy.Function(name); sg.pi: sympy.pi


def _nested_select(n: Node, has_select: set[Node]) -> bool:
    """Whether ``n`` is a select whose condition holds a select."""
    if n.op in _COMPARISONS:
        return any(a in has_select for a in n.args)
    if n.op == "where":
        c = n.args[0]
        return any(a in has_select for a in c.args) if c.op in _COMPARISONS else c in has_select
    return False


def _shared_nodes(order: list[Node]) -> set[Node]:
    """The nodes of ``order`` with more than one user, except leaves and comparisons (conditions stay inline)."""
    users: dict[Node, int] = {}
    for n in order:
        for a in n.args:
            users[a] = users.get(a, 0) + 1
    return {n for n, k in users.items() if k > 1 and n.args and n.op not in _COMPARISONS}


def _temporaries(order: list[Node]):
    """Fresh real sympy symbols ``t0, t1, ...``, skipping the names of the graph's own symbols."""
    taken = {n.name for n in order if n.op == "sym"}
    for i in itertools.count():
        if f"t{i}" not in taken:
            yield sp.Symbol(f"t{i}", real=True)


def _nodes_to_sympy(
    roots: list[Node], opaque_stop: bool = False, named: list | None = None, names: bool = False
) -> dict[Node, Any]:
    """Convert every node reachable from ``roots``; nodes sympy must not evaluate go last, unevaluated.

    Those are nodes deeper than :data:`EVAL_DEPTH` (sympy's evaluation recurses
    on depth), selects whose condition holds a select (sympy, evaluating, pushes
    operations into a Piecewise and rebuilds its conditions, exponentially),
    and everything above either.  No other node depends on them, so they can
    go after the rest; toggling sympy's ``evaluate`` clears sympy's cache, so
    it is switched once, not per node.

    With a list ``named``, each node used more than once becomes a symbol: its
    ``(symbol, expression)`` pair is appended (in dependency order) and its users
    read the symbol, so the expressions add up to the size of the graph.
    """
    order = toposort(roots)
    shared = _shared_nodes(order) if named is not None else set()
    fresh = _temporaries(order)

    def convert(n: Node) -> None:
        try:
            memo[n] = _convert(n, memo, rel, opaque_stop, names)
        except (TypeError, ValueError) as exc:  # sympy's own refusals: Max(x, nan), x > nan, Min of a non-real
            raise UnsupportedOpError(
                f"{n.op} in sympy", hint=f"sympy cannot build it from these operands ({exc})"
            ) from None
        if n in shared and not memo[n].is_Atom:
            symbol_ = next(fresh)
            named.append((symbol_, memo[n]))
            memo[n] = symbol_

    memo: dict[Node, Any] = {}
    rel: dict[Node, Any] = {}
    depth: dict[Node, int] = {}
    has_select: set[Node] = set()  # nodes whose sympy form holds a Piecewise
    raw: set[Node] = set()
    later: list[Node] = []
    for n in order:
        d = depth[n] = 1 + max((depth[a] for a in n.args), default=-1)
        if n.op in _SELECTS or any(a in has_select for a in n.args):
            has_select.add(n)
        if d > EVAL_DEPTH or _nested_select(n, has_select) or any(a in raw for a in n.args):
            raw.add(n)
            later.append(n)
        else:
            convert(n)
    if later:
        with sp.evaluate(False):
            for n in later:
                convert(n)
    return memo


def _leaves(obj, out: list) -> None:
    """Collect the leaves of nested ndarrays, lists and tuples (containers nest shallowly; graphs are not walked)."""
    if isinstance(obj, np.ndarray):
        for v in obj.flat:
            _leaves(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _leaves(v, out)
    else:
        out.append(obj)


def _map_leaves(obj, fn: Callable):
    """``obj`` with each leaf replaced by ``fn(leaf)``: same container types, same array shapes."""
    if isinstance(obj, np.ndarray):
        out = np.empty(obj.shape, dtype=object)
        for idx, v in np.ndenumerate(obj):
            out[idx] = _map_leaves(v, fn)
        return out
    if isinstance(obj, (list, tuple)):
        return sequence_of(container_kind(obj), [_map_leaves(v, fn) for v in obj])  # a namedtuple too
    return fn(obj)


def _to_sympy(e, opaque_stop: bool, named: list | None = None, names: bool = False):
    leaves: list = []
    _leaves(e, leaves)
    memo = _nodes_to_sympy([v for v in leaves if isinstance(v, Node)], opaque_stop, named, names)

    def leaf(v):
        if isinstance(v, Node):
            return memo[v]
        if isinstance(v, _NUMBERS):
            return _sympy_number(v)
        hint = ": give its .outputs" if hasattr(v, "outputs") and hasattr(v, "program") else ""  # a compiled function
        raise InputError(f"to_sympy takes symgrad nodes, numbers and arrays of them, not {type(v).__name__}{hint}")

    return _map_leaves(e, leaf)


def to_sympy(e, shared: bool = False):
    """A node as a sympy expression (real symbols; ``a[0]`` for array elements).

    Arrays give object arrays of the same shape, lists and tuples the same
    container.  ``stop_gradient`` is the identity, ``sigmoid`` becomes
    ``1/(1 + exp(-a))``, comparisons and ``where`` become ``Piecewise``; a
    custom function is ``sympy.Function(name)`` of its arguments (``from_sympy``
    gives it back while it is defined), ``sg.pi`` and ``sg.E`` are sympy's.

    A sympy expression is a tree: a subexpression the graph shares is converted
    once but appears (and counts, and prints) once per use, so a high
    derivative's formula can be far larger than its graph.  ``shared=True``
    returns ``(replacements, expr)`` as ``sympy.cse`` does instead: each node
    used more than once is a symbol ``t0, t1, ...`` defined in ``replacements``
    (a list of ``(symbol, expression)`` pairs, each using only earlier ones),
    and the total stays the size of the graph.
    """
    if not shared:
        return _to_sympy(e, opaque_stop=False)
    named: list[tuple[sp.Symbol, Any]] = []
    expr = _to_sympy(e, opaque_stop=False, named=named)
    return named, expr


# -- sympy -> symgrad -------------------------------------------------------------

_NAN, _ONE, _ZERO = const(math.nan), const(1), const(0)
_NAMED_CONSTANTS = {sp.pi: pi, sp.E: E}  # to_sympy gives sg.pi and sg.E as these: a round trip keeps the names


def _from_symbol(e: sp.Symbol) -> Node:
    if isinstance(e, sp.Dummy):  # a Dummy is no Symbol of its name (x - Dummy('x') is not 0): a name of its own
        return symbol(f"_{e.name}_{e.dummy_index}")
    m = _INDEXED.match(e.name)
    if m:
        return symbol(m.group(1), tuple(int(i) for i in m.group(2).split(",")))
    return symbol(e.name)


def _is_indicator(n: Node) -> bool:
    """Whether ``n`` is known (one level deep) to be 0 or 1."""
    if n.op in _COMPARISONS or n is _ONE or n is _ZERO:
        return True
    return n.op == "where" and all(a.op in _COMPARISONS or a is _ONE or a is _ZERO for a in n.args[1:])


def _select(c: Node, a: Node, b: Node) -> Node:
    """``where(c, a, b)``, where ``c`` counts as true when nonzero, undoing the indicators sympy conditions make."""
    while c.op == "where" and c.args[1].op == "const" and c.args[2].op == "const":
        p, q = c.args[1].value != 0, c.args[2].value != 0  # nan counts as true, as in where
        if p == q:
            break
        c, a, b = (c.args[0], a, b) if p else (c.args[0], b, a)
    if a is _ONE and b is _ZERO and c.op in _COMPARISONS:
        return c
    return B.where(c, a, b)


def _difference(u: Node, v: Node) -> Node:
    return B.add(u, B.mul(-1, v))


def _max(e, args: list[Node]) -> Node:
    if len(args) == 2 and _ZERO in (args[0], args[1]):
        return B.call("relu", args[1] if args[0] is _ZERO else args[0])
    return B.balanced("maximum", args)


def _piecewise_from(e, pairs: list[tuple[Node, Node]]) -> Node:
    out = _NAN  # sympy's value where no condition holds
    for value, cond in reversed(pairs):
        out = _select(cond, value, out)
    return out


def _and(e, args: list[Node]) -> Node:
    out = _ONE
    for c in reversed(args):
        out = _select(c, out, _ZERO)
    return out


def _or(e, args: list[Node]) -> Node:
    out = _ZERO
    for c in reversed(args):
        out = _select(c, _ONE, out)
    return out


def _call(name: str) -> Callable:
    return lambda e, args: B.call(name, *args)


def _reciprocal(name: str) -> Callable:
    return lambda e, args: B.pow(B.call(name, args[0]), -1)


def _log(e, args: list[Node]) -> Node:
    if len(args) == 2:  # log(x, b)
        return B.mul(B.call("log", args[0]), B.pow(B.call("log", args[1]), -1))
    return B.call("log", args[0])


def _undefined(e, args: list[Node]) -> Node:
    """``Function("sigmoid")(x)`` and the like: a custom function of that name, or a primitive sympy has no name for."""
    name = type(e).__name__
    custom = registered(name)
    if custom is not None and custom.arity == len(args):
        return custom.apply(tuple(args))
    op = OPS.get(name)
    if op is None or name in ("add", "mul", "pow") or op.arity != len(args):
        raise UnsupportedOpError(f"sympy function {name}")
    return B.call(name, *args)


def _sinc(e, args: list[Node]) -> Node:
    """sympy's sinc is sin(x)/x: symgrad's (numpy's) sinc of x/pi."""
    return B.call("sinc", B.mul(args[0], 1 / math.pi))


def _table_handlers() -> dict[type, Callable]:
    """The one-to-one sympy classes of the op table (``sp.sin -> sin``, ``sp.Abs -> abs``, ``sp.erf -> erf``)."""
    return {getattr(sp, t): _call(op.name) for op in OPS.values() for t in op.sympy_types}


# Handlers by sympy class (looked up along the MRO): (expr, converted args) -> node.  Written out
# here: the compound cases (a sympy class that is no single op); the op table's one-to-one classes
# come last, so an op added for a class (asinh, say) takes over from its compound handler.
_HANDLERS: dict[type, Callable] = {
    sp.Symbol: lambda e, args: _from_symbol(e),
    sp.Integer: lambda e, args: const(int(e)),
    sp.Rational: lambda e, args: const(Fraction(int(e.p), int(e.q))),
    sp.Float: lambda e, args: const(float(e)),
    NaN: lambda e, args: _NAN,
    Infinity: lambda e, args: const(math.inf),
    NegativeInfinity: lambda e, args: const(-math.inf),
    NumberSymbol: lambda e, args: _NAMED_CONSTANTS[e] if e in _NAMED_CONSTANTS else const(float(e)),
    BooleanTrue: lambda e, args: _ONE,
    BooleanFalse: lambda e, args: _ZERO,
    sp.Add: lambda e, args: B.add(*args),
    sp.Mul: lambda e, args: B.mul(*args),
    sp.Pow: lambda e, args: B.call("exp", args[1]) if e.base is sp.E else B.pow(*args),
    sp.log: _log,
    sp.cot: _reciprocal("tan"),
    sp.sec: _reciprocal("cos"),
    sp.csc: _reciprocal("sin"),
    sp.coth: _reciprocal("tanh"),
    sp.sech: _reciprocal("cosh"),
    sp.csch: _reciprocal("sinh"),
    sp.sinc: _sinc,
    sp.Max: _max,
    sp.Min: lambda e, args: B.balanced("minimum", args),
    ExprCondPair: lambda e, args: (args[0], args[1]),
    sp.Piecewise: _piecewise_from,
    sp.Unequality: lambda e, args: _difference(*args),  # nonzero exactly when the sides differ
    sp.Equality: lambda e, args: _select(_difference(*args), _ZERO, _ONE),
    And: _and,
    Or: _or,
    Not: lambda e, args: _select(args[0], _ZERO, _ONE),
    ITE: lambda e, args: _select(*args),
    AppliedUndef: _undefined,
    _LogSumExp: lambda e, args: S.logsumexp(args),
    _Softmax: lambda e, args: S.softmax(args[1:])[int(e.args[0])],
    _LogSoftmax: lambda e, args: S.log_softmax(args[1:])[int(e.args[0])],
    **_table_handlers(),
}
_DISPATCH: dict[type, Callable | None] = {}


def _handler(e) -> Callable:
    cls = type(e)
    if cls not in _DISPATCH:
        _DISPATCH[cls] = next((_HANDLERS[c] for c in cls.__mro__ if c in _HANDLERS), None)
    handler = _DISPATCH[cls]
    if handler is None:
        raise UnsupportedOpError(f"sympy {cls.__name__}")
    return handler


_UNEVALUATED = (sp.Derivative, sp.Subs)
"""sympy's unevaluated derivatives and substitutions: converted as their value, which ``doit()`` gives."""


def _done(e: Basic) -> Basic:
    """``e`` (a Derivative or Subs) evaluated by sympy; an UnsupportedOpError where sympy cannot (``f(x)`` undefined)."""
    done = e.doit()
    if done.has(type(e)):
        raise UnsupportedOpError(
            f"sympy {type(e).__name__}", hint=f"sympy cannot evaluate {e}: convert its expression and take sg.diff"
        )
    return done


def _from_sympy_expr(expr: Basic, memo: dict[int, Any]) -> Node:
    """Postorder over ``expr.args`` with an explicit stack; ``memo`` (by id) shares common subtrees."""
    stack: list[tuple[Basic, bool]] = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if id(e) in memo:
            continue
        if isinstance(e, _UNEVALUATED):  # its value converted in its place
            if ready:
                memo[id(e)] = memo[id(memo[-id(e)])]
            else:
                memo[-id(e)] = done = _done(e)  # kept alive while memo (by id) is; no object's id is negative
                stack += [(e, True), (done, False)]
            continue
        handler = _handler(e)  # unsupported types fail before their operands are visited
        if ready or not e.args:
            memo[id(e)] = handler(e, [memo[id(a)] for a in e.args])
        else:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if id(a) not in memo)
    out = memo[id(expr)]
    if isinstance(expr, Boolean) and not isinstance(expr, sp.Expr) and not _is_indicator(out):
        out = B.where(out, 1, 0)  # a condition used as a value is 0 or 1 (symbols are Boolean too: skipped)
    return out


def from_sympy(expr):
    """A sympy expression as a canonical symgrad node (the same node a round trip started from).

    Accepts numbers, sympy matrices and arrays (giving object arrays of nodes),
    and numpy arrays, lists and tuples of these.  Symbols named ``a[0]`` or
    ``a[0, 1]`` become elements of the array symbol ``a``.  An unevaluated ``Derivative``
    or ``Subs`` is its value (sympy's ``doit()``).  Strings are refused:
    parsing them with sympy would run ``eval`` on them.
    """
    if isinstance(expr, (sp.MatrixBase, sp.NDimArray)):
        arr = np.empty(expr.shape, dtype=object)
        for idx in np.ndindex(*expr.shape):
            arr[idx] = expr[idx]
        expr = arr
    memo: dict[int, Any] = {}
    keep: list = []  # memo is by id: keep converted expressions alive until the end

    def leaf(v):
        if isinstance(v, str):
            raise InputError(  # an InputError is also a TypeError, as this was
                "from_sympy takes a sympy expression, not a string: build one with sympy "
                "(sympy.Symbol('x', real=True), sympy.sin(x), ...); strings are never parsed here"
            )
        if isinstance(v, Node):
            return v
        if isinstance(v, _NUMBERS):
            return const(v)
        if isinstance(v, Basic):
            keep.append(v)
            return _from_sympy_expr(v, memo)
        raise InputError(f"from_sympy takes sympy expressions, not {type(v).__name__}")

    return _map_leaves(expr, leaf)


# -- LaTeX and simplification ------------------------------------------------------


def latex(e) -> str:
    """LaTeX for a node (via sympy), or a matrix / column vector for a 1-D or 2-D array.

    sympy's printer recurses on depth (a sum nested in a function in a sum... about 300 levels is
    past Python's recursion limit): an expression that deep raises UnsupportedOpError.
    """
    try:
        if isinstance(e, (np.ndarray, list, tuple)):
            arr = _to_sympy(np.asarray(e, dtype=object), opaque_stop=False, names=True)
            if arr.ndim == 0:
                return sp.latex(arr.item())
            if arr.ndim <= 2:
                return sp.latex(sp.Matrix(arr.tolist()))
            return sp.latex(sp.Array(arr.tolist()))
        return sp.latex(_to_sympy(e, opaque_stop=False, names=True))  # softmax(z)_0 by name
    except RecursionError:
        hint = "sympy's printer recurses on depth; str() prints it."
        raise UnsupportedOpError("LaTeX of an expression nested this deeply", hint=hint) from None


_ARITHMETIC = frozenset({"add", "mul", "pow", "const", "sym"})
MAX_NESTING = 8
"""simplify leaves expressions with functions nested deeper than this alone: sympy re-simplifies
the operands of every function it meets, which doubles its work per level of nesting."""


def _small_enough(node: Node, max_size: int) -> bool:
    """Whether ``node`` written out as a tree has at most ``max_size`` nodes and functions nest at most
    :data:`MAX_NESTING` deep (found without walking a big graph)."""
    seen = {node}
    stack = [node]
    while stack:
        for a in stack.pop().args:
            if a not in seen:
                if len(seen) >= max_size:  # the tree is at least as big as the DAG
                    return False
                seen.add(a)
                stack.append(a)
    size: dict[Node, int] = {}
    nesting: dict[Node, int] = {}
    for n in toposort([node]):
        size[n] = min(max_size + 1, 1 + sum(size[a] for a in n.args))
        nesting[n] = max((nesting[a] for a in n.args), default=0) + (n.op not in _ARITHMETIC)
    return size[node] <= max_size and nesting[node] <= MAX_NESTING


def _complex_bases(expr) -> set:
    """The bases of ``expr``'s powers whose exponent may not be an integer and whose base may be negative.

    sympy simplifies over the complex numbers (``sqrt(Abs(x))*sqrt(Abs(y))`` becomes
    ``Abs(sqrt(x)*sqrt(y))``), where symgrad's ``x**(1/2)`` is nan for ``x < 0``: an answer
    with such a base the input did not have would be nan where the input has a value.
    """
    return {p.base for p in expr.atoms(sp.Pow) if p.exp.is_integer is not True and p.base.is_nonnegative is not True}


def _simplify_node(node: Node, max_size: int) -> Node:
    if not node.args or not _small_enough(node, max_size):
        return node
    try:
        # stop_gradient stays an opaque function: as the identity, sympy would drop it and change derivatives
        given = _to_sympy(node, opaque_stop=True, names=True)  # softmax and logsumexp kept whole, by name
        expr = sp.simplify(given)
    except (TypeError, ValueError, NotImplementedError):  # sympy refuses Max(x, nan), x > nan, some Piecewise
        return node
    if not _complex_bases(expr) <= _complex_bases(given):
        return node
    try:
        out = from_sympy(expr)
    except UnsupportedOpError:  # e.g. sympy answered with a complex number or a special function
        return node
    return out if len(toposort([out])) < len(toposort([node])) else node


def simplify(e, max_size: int = 60):
    """Deep simplification with sympy, for expressions up to ``max_size`` nodes written out as a tree.

    Returns whichever of the original and sympy's answer has fewer graph nodes,
    so it never makes an expression bigger.  Larger expressions (and ones
    with functions nested deeper than :data:`MAX_NESTING`) are returned
    unchanged: they are already in symgrad's canonical form, and sympy's time
    grows fast and unevenly with size (``sympy.simplify`` of the 57-node
    second layer of a tanh network's gradient takes seconds, of its Hessian
    minutes).  ``stop_gradient`` is kept.  Arrays, lists and tuples are
    simplified element by element.
    """
    return _map_leaves(e, lambda v: _simplify_node(v, max_size) if isinstance(v, Node) else v)
