"""The IR: an immutable, hash-consed DAG of scalar nodes.

Every node is made through :func:`make`, which looks the structure
``(op, args, value)`` up in an intern table first.  Equal structure therefore
gives the *same* object: common subexpressions are shared by construction and
``is`` is a valid equality test.  Nodes carry no mutable state (no ``.grad``).

Arithmetic on nodes (``x + y``, ``sg.sin(x)``) goes through the simplifying
builders of :mod:`symgrad.ir.builders`; this module only defines the data.
"""

from __future__ import annotations

import contextvars
import functools
import math
import numbers
import threading
import weakref
import zlib
from _weakref import _remove_dead_weakref
from collections.abc import Callable, Iterable
from fractions import Fraction

from ..errors import ArrayMethodError, TraceError, UnsupportedOpError

Number = int | Fraction | float

_MASK = (1 << 61) - 1
# The intern table: structure -> a weak reference to the node, dropped when the node dies.
# A plain dict of _Ref (not a WeakValueDictionary): weakref.KeyedRef's Python-level __new__
# and __init__ were a third of the cost of creating a node.
_INTERN: dict[tuple, _Ref] = {}


class _Ref(weakref.ref):
    """A weak reference to an interned node that remembers the node's table key (for the removal)."""

    __slots__ = ("ident",)


def _drop(ref: _Ref, _data=_INTERN, _remove=_remove_dead_weakref) -> None:
    """Called when an interned node dies: remove its entry (unless a new node took the key since)."""
    _remove(_data, ref.ident)


_SET_IDENT = _Ref.ident.__set__
# Creating a node is check-then-insert: two threads missing the same key at once would
# each make a node, and equal nodes that are not the same object break ``is`` equality.
# Creation takes this lock and checks again; the hit path (most calls) takes no lock.
_INTERN_LOCK = threading.Lock()
# Called with the operands before a node is created, or None (the default: no cost beyond this check).
# symgrad.limits installs it while a work budget is active, to count nodes and stop runaway jobs.
_CREATION_HOOK = None


class _Protocol:
    """Hooks the layers above install into :class:`Node`, so this layer never imports them.

    ``array_ufunc`` / ``array_function`` answer numpy's protocols and
    ``element_method`` the per-element methods numpy's object loops call
    (installed by :mod:`symgrad.tracing`), ``latex`` prints a node as LaTeX
    (installed by :mod:`symgrad`, importing sympy only when a notebook asks for it),
    ``diff`` is ``sg.diff`` for ``e.diff(x)`` (installed by :mod:`symgrad`).
    """

    __slots__ = ("array_function", "array_ufunc", "diff", "element_method", "latex")

    def __init__(self) -> None:
        self.array_ufunc = None
        self.array_function = None
        self.element_method = None
        self.latex = None
        self.diff = None


PROTOCOL = _Protocol()

TRACING: contextvars.ContextVar[bool] = contextvars.ContextVar("symgrad_tracing", default=False)
"""True while a Python function is being traced (set by :mod:`symgrad.tracing.tracer`): ``==`` is then numpy's."""


def _stable_hash(text: str) -> int:
    """A 64-bit hash of a string that does not change between processes (unlike ``hash``).

    Two 32-bit checksums side by side: crc32 alone would give two of 10^5 distinct
    constants the same hash about once.
    """
    data = text.encode()
    return zlib.crc32(data) | zlib.adler32(data) << 32


class _UfuncMethod:
    """``x.log2()``: the method numpy's object-dtype loop of the ufunc of that name calls on each element.

    It asks the trace layer (``PROTOCOL.element_method``), so a ufunc does on an array of
    nodes what it does on one node, or raises the UnsupportedOpError naming it.
    """

    __slots__ = ("name",)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, node, owner=None):
        if node is None:
            return self
        method = None if PROTOCOL.element_method is None else PROTOCOL.element_method(self.name)
        if method is None:
            raise AttributeError(f"'Node' object has no attribute {self.name!r}")
        return functools.partial(method, node)


def _ufunc_methods(count: int) -> tuple[_UfuncMethod, ...]:
    return tuple(_UfuncMethod() for _ in range(count))


class Node:
    """One scalar value in the graph: a constant, a symbol, or an op applied to nodes.

    ``op`` is the primitive's name (see :mod:`symgrad.ir.ops`), ``args`` the operand
    nodes, ``value`` the constant attribute (a number for ``const``, a
    ``(name, index)`` pair for ``sym``).  ``key`` is a structural hash that is the
    same in every process; it orders the operands of commutative ops.
    """

    __slots__ = ("__weakref__", "args", "key", "op", "value")
    __array_priority__ = 1000

    op: str
    args: tuple[Node, ...]
    value: object
    key: int

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("symgrad nodes are immutable")

    def __reduce__(self):
        return (make, (self.op, self.args, self.value))

    # -- predicates ---------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.op == "const"

    @property
    def is_symbol(self) -> bool:
        return self.op == "sym"

    @property
    def name(self) -> str:
        """The printed name of a symbol: ``x`` or ``a[0, 1]``."""
        if self.op != "sym":
            raise AttributeError("only symbols have a name")
        base, index = self.value
        if not index:
            return base
        return f"{base}[{', '.join(map(str, index))}]"

    # -- complex-number protocol: symgrad's values are real (as JAX on real arrays) ----
    @property
    def real(self) -> Node:
        return self

    @property
    def imag(self) -> Node:
        return _SMALL_INTS[256]

    def conjugate(self) -> Node:
        return self

    conj = conjugate

    # -- sympy's expression methods --------------------------------------------
    def subs(self, *args, **kwargs) -> Node:
        """sympy's ``subs``: ``e.subs(x, 2)``, ``e.subs({x: 2, y: z})``, ``e.subs([(x, 1), (y, 2)])``.

        Pairs apply one after another as in sympy (a dict in sympy's order:
        bigger keys first, then by name; ``simultaneous=True`` for all at once);
        keys are symbols (or their names), array symbols or subexpressions, values
        numbers or expressions, rebuilt through the simplifying builders.
        """
        return _subs.subs([self], args, kwargs)[0]

    def diff(self, *spec, **kwargs) -> Node:
        """sympy's ``e.diff(x)``, ``e.diff(x, 2)``, ``e.diff(x, y)``: the same as ``sg.diff(e, ...)``."""
        if PROTOCOL.diff is None:  # only when symgrad.ir is used without the package
            raise TraceError("e.diff needs the symgrad package imported (import symgrad)")
        return PROTOCOL.diff(self, *spec, **kwargs)

    @property
    def free_symbols(self) -> set[Node]:
        """The symbols this expression depends on, as a set (as sympy's ``free_symbols``)."""
        return set(free_symbols([self]))

    def _number(self) -> Number | None:
        """The value of a constant, or of an expression of named constants (``sg.pi/2``), else None."""
        return self.value if self.op == "const" else _alg.number_of(self, 64)

    # -- Python protocol ------------------------------------------------------
    def __bool__(self) -> bool:
        if self.op == "const":
            return bool(self.value)
        if self._number() is not None:  # sg.pi, sg.pi/2 + 1
            return bool(self._number())
        raise TraceError(
            "a symbolic value has no truth value: Python control flow (`if`, `while`, "
            "`and`/`or`, `max`) on a traced value cannot be followed symbolically; "
            "use sg.where(cond, a, b), sg.maximum or sg.minimum instead; and an array made with "
            "np.array([...]) of traced values is numpy's plain object array, whose numpy functions "
            "(np.maximum, np.where, np.clip) run numpy's own loops on them: make it with sg.stack([...])"
        )

    def __float__(self) -> float:
        if self.op == "const":
            return float_value(self.value)
        if self._number() is not None:  # sg.pi, sg.pi/2 + 1
            return float(self._number())
        raise TraceError(
            f"cannot convert the symbolic value {self} to a float: float(), the math module and numpy "
            "functions without a symbolic counterpart need numbers; use symgrad's functions (sg.sin, "
            "sg.exp, ...) or numpy's ufuncs (np.sin, ...) on symbolic values"
        )

    def __int__(self) -> int:
        if self._number() is not None:
            return int(self._number())
        raise TraceError(f"cannot convert the symbolic value {self} to an int")

    def __index__(self) -> int:
        if self.op == "const" and float(self.value).is_integer():
            return int(self.value)
        raise TraceError(f"the symbolic value {self} cannot be used as an index")

    # rounding has no derivative worth the name and no symbolic op: say so by name
    def __floor__(self):
        raise UnsupportedOpError("floor", hint="Rounding is not differentiable; symgrad has no symbolic floor.")

    def __ceil__(self):
        raise UnsupportedOpError("ceil", hint="Rounding is not differentiable; symgrad has no symbolic ceil.")

    def __trunc__(self):
        raise UnsupportedOpError("trunc", hint="Rounding is not differentiable; symgrad has no symbolic trunc.")

    def __round__(self, ndigits=None):
        raise UnsupportedOpError("round", hint="Rounding is not differentiable; symgrad has no symbolic round.")

    def __str__(self) -> str:
        return _text.to_text(self)

    def __repr__(self) -> str:
        return _text.to_text(self)

    def _repr_latex_(self) -> str | None:
        return None if PROTOCOL.latex is None else "$" + PROTOCOL.latex(self) + "$"

    # -- arithmetic: delegated to the simplifying builders ----------------------
    # A node or a Python number goes straight to its builder (a traced loop makes millions of
    # these calls); anything else (arrays, lists, numpy scalars) through builders.binary.
    def __add__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.add(self, other)
        return _alg.binary("add", self, other)

    def __radd__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.add(other, self)
        return _alg.binary("add", other, self)

    def __sub__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.sub(self, other)
        return _alg.binary("sub", self, other)

    def __rsub__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.sub(other, self)
        return _alg.binary("sub", other, self)

    def __mul__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.mul(self, other)
        return _alg.binary("mul", self, other)

    def __rmul__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.mul(other, self)
        return _alg.binary("mul", other, self)

    def __truediv__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.div(self, other)
        return _alg.binary("div", self, other)

    def __rtruediv__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.div(other, self)
        return _alg.binary("div", other, self)

    def __pow__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.pow(self, other)
        return _alg.binary("pow", self, other)

    def __rpow__(self, other):
        if other.__class__ in _PLAIN:
            return _alg.pow(other, self)
        return _alg.binary("pow", other, self)

    def __matmul__(self, other):
        raise TraceError("`@` needs arrays; a scalar symbol has no matrix product")

    def __neg__(self):
        return _alg.mul(-1, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _alg.call("abs", self)

    def __lt__(self, other):
        return _alg.binary("lt", self, other)

    def __le__(self, other):
        return _alg.binary("le", self, other)

    def __gt__(self, other):
        return _alg.binary("gt", self, other)

    def __ge__(self, other):
        return _alg.binary("ge", self, other)

    __hash__ = object.__hash__

    def __eq__(self, other):
        """Inside a traced function, numpy's ``==``: an elementwise condition; elsewhere sympy's structural test.

        A traced function is numeric code (``np.sum(x == y)`` counts equal entries),
        so there ``==`` builds the condition ``sg.equal(x, y)``.  On expressions it
        answers whether two expressions are the same (hash-consing makes that an
        identity test), as sympy's ``==`` does; :meth:`equals` asks that anywhere.
        """
        if not isinstance(other, (Node, numbers.Real)):
            return NotImplemented
        return _alg.binary("eq", self, other) if TRACING.get() else self.equals(other)

    def __ne__(self, other):
        if not isinstance(other, (Node, numbers.Real)):
            return NotImplemented
        return _alg.binary("ne", self, other) if TRACING.get() else not self.equals(other)

    def equals(self, other) -> bool:
        """Structural equality: the same expression (an identity test, thanks to hash-consing)."""
        if isinstance(other, Node):
            return self is other
        return isinstance(other, numbers.Real) and self.op == "const" and self.value == other

    # conditions combine as numpy's boolean arrays do: & | ^ ~ are logical (nonzero is true)
    def __and__(self, other):
        return _alg.binary("and", self, other)

    def __rand__(self, other):
        return _alg.binary("and", other, self)

    def __or__(self, other):
        return _alg.binary("or", self, other)

    def __ror__(self, other):
        return _alg.binary("or", other, self)

    def __xor__(self, other):
        return _alg.binary("xor", self, other)

    def __rxor__(self, other):
        return _alg.binary("xor", other, self)

    def __invert__(self):
        return _alg.logical_not(self)

    # the remainder and floor division are not differentiable and have no op: say so by name
    def __mod__(self, other):
        raise UnsupportedOpError("%", hint="The remainder has no symbolic counterpart (numpy.remainder neither).")

    __rmod__ = __mod__

    def __floordiv__(self, other):
        raise UnsupportedOpError("//", hint="Floor division is not differentiable; write x / y, or sg.where.")

    __rfloordiv__ = __floordiv__

    def __divmod__(self, other):
        raise UnsupportedOpError("divmod", hint="The remainder has no symbolic counterpart.")

    __rdivmod__ = __divmod__

    # -- numpy interop: ufuncs on nodes and on object arrays of nodes ------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if PROTOCOL.array_ufunc is None:
            return NotImplemented
        return PROTOCOL.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """numpy functions (``np.where``, ``np.sort``, ``np.linalg.inv``...) called with a node among their operands."""
        if PROTOCOL.array_function is None:
            return NotImplemented
        return PROTOCOL.array_function(func, types, args, kwargs)

    # numpy's object-dtype loops call a method named after the ufunc on each element (``x.log2()``).
    # These are numpy's names (every ufunc with such a loop, conjugate above); what each one does
    # comes from the trace layer's ufunc map, derived from the op table.
    sin, cos, tan, arcsin, arccos, arctan, arctan2 = _ufunc_methods(7)
    sinh, cosh, tanh, arcsinh, arccosh, arctanh = _ufunc_methods(6)
    exp, exp2, expm1, log, log2, log10, log1p = _ufunc_methods(7)
    sqrt, cbrt, fabs, hypot, fmod, rint, logical_xor = _ufunc_methods(7)
    deg2rad, rad2deg, degrees, radians = _ufunc_methods(4)


_PLAIN = frozenset({Node, int, float})  # operands the operators hand to the builders directly

# what numpy arrays have and a scalar symbol does not
# fmt: off
_ARRAY_ATTRIBUTES = frozenset({
    "sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod", "argmax", "argmin", "ptp",
    "any", "all", "reshape", "ravel", "flatten", "transpose", "squeeze", "dot", "clip", "sort", "argsort",
    "nonzero", "trace", "diagonal", "item", "tolist", "astype", "T", "shape", "ndim", "size",
})
# fmt: on


class _ArrayAttribute:
    """``x.sum`` on a scalar node: an ArrayMethodError saying the value is a scalar, and how to declare an array.

    One descriptor per name, not a ``__getattr__``: numpy probes every element of a list it
    converts for ``__array__``, ``__array_interface__`` and ``__array_struct__``, and with a
    Python-level ``__getattr__`` each probe raised an exception in Python (~2 µs a node: 11 ms
    for the object array of a 6,000-entry sparse Hessian); without one, CPython answers "no
    such attribute" without creating the exception.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, node, owner=None):
        if node is None:
            return self
        raise ArrayMethodError(_array_method_message(node, self.name))


for _name in sorted(_ARRAY_ATTRIBUTES):
    assert _name not in Node.__dict__, _name  # a scalar's own attribute is never shadowed
    setattr(Node, _name, _ArrayAttribute(_name))
del _name


def _array_method_message(node: Node, name: str) -> str:
    call = f".{name}" if name in ("T", "shape", "ndim", "size") else f".{name}()"
    if node.op == "sym":
        what, arg = f"{node.name} is a scalar symbol", (node.value[0] if not node.value[1] else None)
    else:
        names = sorted({s.name for s in free_symbols([node])})
        what = "this is a scalar expression" + (f" of {', '.join(names)}" if names else "")
        arg = names[0] if len(names) == 1 and "[" not in names[0] else None
    return (
        f"{call}: {what}, not an array. A traced function's arguments are scalars unless declared with shapes= "
        f"(e.g. shapes={{{arg or 'v'!r}: (3,)}}); sg.symbols(name, shape=(3,)) makes an array symbol"
    )


def _const_key(value: Number) -> tuple:
    if isinstance(value, float):
        return ("f", value.hex())
    return ("q", value)


def _value_text(value: object) -> str:
    """The text a node's value hashes by: its repr, in hex for an exact number past Python's decimal limit.

    ``repr`` of an int of more than 4,300 digits raises ValueError (``x + 10**5000``, a
    constant README says computes as inf); hex has no limit.  Smaller ones keep their repr,
    so their keys, and every graph's canonical order, stay as they were.
    """
    cls = value.__class__
    if cls is int and value.bit_length() > _DECIMAL_BITS:
        return hex(value)
    if cls is Fraction and max(value.numerator.bit_length(), value.denominator.bit_length()) > _DECIMAL_BITS:
        return f"{value.numerator:#x}/{value.denominator:#x}"
    return repr(value)


def integer_text(value: int) -> str:
    """An int's decimal text, or its hex past Python's int-to-decimal limit (``str()`` raises there; 0x... reads back)."""
    try:
        return str(value)
    except ValueError:
        return hex(value)


def format_number(value: Number) -> str:
    """Shortest text that reads back as the same number (an int past Python's decimal limit in hex)."""
    if isinstance(value, Fraction):
        return f"{integer_text(value.numerator)}/{integer_text(value.denominator)}"
    if isinstance(value, float):
        return repr(value)
    return integer_text(value)


_DECIMAL_BITS = 13_000  # below Python's default int_max_str_digits (4,300 digits, 14,284 bits)
_OP_HASHES: dict[str, int] = {}  # an op's stable hash, times the key multiplier: computed once per op


def make(op: str, args: tuple[Node, ...] = (), value: object = None) -> Node:
    """The interning constructor: the one way a node is created."""
    ident = (op, args, _const_key(value) if op == "const" else value)
    ref = _INTERN.get(ident)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    if _CREATION_HOOK is not None:
        _CREATION_HOOK(args)
    k = _OP_HASHES.get(op)
    if k is None:
        k = _OP_HASHES[op] = (_stable_hash(op) * 1000003) & _MASK
    if value is not None:
        k = (k ^ _stable_hash(_value_text(value))) & _MASK  # every key fits 61 bits (graph_hash reads them as uint64)
    for a in args:  # xor, then multiply: the other order is an involution (f(f(x)) and x, f(g(x)) and g(f(x)) tied)
        k = ((k ^ a.key) * 1000003) & _MASK
    node = _NEW(Node)
    _SET_OP(node, op)
    _SET_ARGS(node, args)
    _SET_VALUE(node, value)
    _SET_KEY(node, k)
    ref = _Ref(node, _drop)
    _SET_IDENT(ref, ident)
    with _INTERN_LOCK:
        old = _INTERN.get(ident)  # another thread may have made it since the check above
        if old is not None:
            other = old()
            if other is not None:
                return other  # this thread's node was never seen: it dies here, its entry is the other's
        _INTERN[ident] = ref
    return node


_NEW = object.__new__
# The slots' own setters: Node.__setattr__ refuses every assignment, only make() fills a node.
_SET_OP, _SET_ARGS, _SET_VALUE, _SET_KEY = (Node.op.__set__, Node.args.__set__, Node.value.__set__, Node.key.__set__)


def set_creation_hook(hook) -> None:
    """Install (or with None remove) the function :func:`make` calls before creating a node (see symgrad.limits)."""
    global _CREATION_HOOK
    _CREATION_HOOK = hook


def normalize_number(value) -> Number:
    """Keep exact numbers exact: ints and small binary fractions stay exact, others float."""
    cls = value.__class__
    if cls is int:
        return value
    if cls is float:
        return _normalize_float(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    return _normalize_float(float(value))


def float_value(value) -> float:
    """The float a constant's exact value rounds to: +-inf past the float range, as float arithmetic gives.

    ``float()`` raises OverflowError on an int or Fraction beyond ~1.8e308 (``10**400``, the 200th
    derivative's 200!), where generated code and the interpreters need the number the computation in
    floats would reach; one too small already rounds to a 0.0 of its sign.  Every place that turns a
    constant into a float for computing (code, tapes, folding, the reference interpreter) calls this.
    """
    try:
        return float(value)
    except OverflowError:
        return -math.inf if value < 0 else math.inf


def _normalize_float(value: float) -> Number:
    if not math.isfinite(value) or (value == 0 and math.copysign(1.0, value) < 0):
        return value  # -0.0 stays a float: arctan2(-0.0, -1) is -pi and 1/-0.0 is -inf, as in numpy
    num, den = value.as_integer_ratio()
    if den == 1 and abs(num) < 2**53:
        return num
    if den <= 1024 and abs(num) < 2**53:
        return Fraction(num, den)
    return value


def const(value) -> Node:
    """A constant node; equal numbers give the same node."""
    cls = value.__class__
    if cls is int and -256 <= value <= 256:
        return _SMALL_INTS[value + 256]
    if cls is float:  # the builders' coefficients: a few distinct floats, met again and again
        node = _FLOATS.get(value)
        if node is None:
            node = make("const", (), normalize_number(value))
            if value and not math.isnan(value):  # not 0.0 / -0.0 (equal keys) nor nan (never equal)
                if len(_FLOATS) >= _FLOATS_MAX:
                    _FLOATS.clear()
                _FLOATS[value] = node
        return node
    if cls is int or cls is Fraction:  # 800, 1200, 2/3: a derivative's coefficients, met again in every sweep
        node = _EXACT.get(value)
        if node is None:
            node = make("const", (), normalize_number(value))
            if len(_EXACT) >= _FLOATS_MAX:
                _EXACT.clear()
            _EXACT[value] = node
        return node
    return make("const", (), normalize_number(value))


_FLOATS: dict[float, Node] = {}
_FLOATS_MAX = 4096
# Ints and fractions apart from the floats: 2**60 and 2.0**60 are equal keys but different constants.
_EXACT: dict[int | Fraction, Node] = {}


_SMALL_INTS: list[Node] = []  # kept alive: the builders use them all the time
_SMALL_INTS.extend(make("const", (), i) for i in range(-256, 257))


def symbol(name: str, index: tuple[int, ...] = ()) -> Node:
    """A scalar symbol, or element ``index`` of the array symbol ``name``."""
    return make("sym", (), (name, tuple(int(i) for i in index)))


def toposort(roots: Iterable[Node], enter: Callable[[Node], bool] | None = None) -> list[Node]:
    """All nodes reachable from ``roots``, each after its operands (iterative DFS).

    Each stack entry holds a node and an iterator over its operands, so a visit
    costs no new tuple per edge, and a leaf is placed at once, without a stack
    entry (this runs over graphs of 10^6 nodes several times per compile).
    ``enter``: walk into an operand only where it says so (a Hessian entry's
    sweep walks only what reaches its variables); the roots are always placed.
    """
    order: list[Node] = []
    seen: set[Node] = set()  # nodes hash by identity, at C speed
    mark, append = seen.add, order.append
    for root in roots:
        if root in seen:
            continue
        mark(root)
        stack = [(root, iter(root.args))]
        push, pop = stack.append, stack.pop
        while stack:
            node, operands = stack[-1]
            for child in operands:
                if child not in seen and (enter is None or enter(child)):
                    mark(child)
                    if child.args:
                        push((child, iter(child.args)))
                        break
                    append(child)
            else:
                pop()
                append(node)
    return order


def free_symbols(roots: Iterable[Node]) -> list[Node]:
    """The symbols the roots depend on, in a stable order."""
    return [n for n in toposort(roots) if n.op == "sym"]


def intern_table_size() -> int:
    """How many nodes are alive in the intern table (for memory tests)."""
    return len(_INTERN)


from . import builders as _alg
from . import subs as _subs
from . import text as _text
