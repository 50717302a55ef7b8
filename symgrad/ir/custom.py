"""User-defined differentiable functions (``sg.custom_function``) and the named constants ``sg.pi``, ``sg.E``.

A custom function is one generic IR op, ``"custom"``, whose node ``value`` is the
:class:`CustomFunction` it applies: hash-consing keys on the function object, so
equal applications are one node, and the op table (:data:`symgrad.ir.ops.OPS`, walked
by its own tests) holds no user functions.  The IR's users look ops up with
:func:`op_of`, which answers for a custom node with a record built from its function:

- printing (``str``, LaTeX through sympy, graphs) shows the function's name;
- derivatives use its rule (``defderiv``), itself written in symgrad expressions,
  so every order works (the rule's partials are differentiated in turn); without
  a rule, the body's own derivatives;
- the reference interpreter evaluates the body; code generation inlines it first
  (:func:`lower`, called where a kernel is built), so no printer or backend knows
  custom functions;
- ``verify=True`` compares a rule with central differences of the body
  (:func:`check_rules`), over every function whose rule built the outputs.

A named constant is a custom function of no arguments whose body is a number: it
prints by name (``2*pi*x``), folds like a number inside functions (``sin(pi)``) and
is a plain number to the code generators.
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DiffError, InputError, ShapeError, TraceError, VerificationError
from . import builders as B
from .node import TRACING, Node, const, free_symbols, make, symbol, toposort
from .ops import OPS, Op

CUSTOM = "custom"
"""The op name of every custom function's nodes (not an entry of the op table)."""

_REGISTRY: weakref.WeakValueDictionary[str, CustomFunction] = weakref.WeakValueDictionary()
# Derivatives built with custom rules -> those functions (see note_derivatives): what verify=True checks.
_DERIVED: weakref.WeakKeyDictionary[Node, frozenset] = weakref.WeakKeyDictionary()
_RULES_EXIST = [False]  # set once a rule is defined: until then recording derivatives costs nothing


def op_of(node: Node) -> Op:
    """The op record of a node: the op table's entry, or the record of its custom function."""
    return node.value.op if node.op == CUSTOM else OPS[node.op]


def registered(name: str) -> CustomFunction | None:
    """The live custom function of that name (the latest one defined), for ``from_sympy``."""
    return _REGISTRY.get(name)


def _parameters(fn: Callable, name: str) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise InputError(f"custom function {name}: cannot read its signature") from None
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    odd = [p.name for p in params if p.kind not in plain]
    if odd:
        raise InputError(
            f"custom function {name}: its parameters must be plain positional ones (one value each), "
            f"not *args, **kwargs or keyword-only ({', '.join(odd)})"
        )
    if not params:
        raise InputError(f"custom function {name} takes no arguments; a constant needs no custom function")
    return params


class CustomFunction:
    """A differentiable function defined once by its body, with an optional derivative rule.

    Call it on symbols, numbers or arrays (elementwise, like every symgrad function);
    ``@f.defderiv`` gives its partial derivatives (one expression, or a tuple of one
    per argument); ``.body`` and ``.partials`` show both in its placeholder arguments.
    """

    def __init__(self, fn: Callable, name: str | None = None) -> None:
        if not callable(fn):
            raise InputError(f"custom_function decorates a function, got {type(fn).__name__}")
        name = getattr(fn, "__name__", "") if name is None else name
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"a custom function's name must be an identifier, got {name!r}")
        self.name = name
        self.fn = fn
        self._signature = inspect.Signature(_parameters(fn, name))
        names = list(self._signature.parameters)
        self.arity = len(names)
        # placeholders no user symbol can be (names are identifiers): bodies never capture a user's x
        self.params = tuple(symbol(f"{name}:{p}") for p in names)
        self.constant: float | None = None
        self._rule: Callable | None = None
        self._body: Node | None = None
        self._partials: tuple[Node, ...] | None = None
        self._lowered: Node | None = None
        self._rule_checked = False
        self._tracing = False
        self.op = Op(
            name=name,
            arity=self.arity,
            ref=self._evaluate,
            partials=lambda B_, args, out: self.partials_at(args),
            text=name + "(" + ", ".join(f"{{{i}}}" for i in range(self.arity)) + ")",
            sympy=lambda sp, *args: sp.Function(name, real=True)(*args),
        )
        functools.update_wrapper(self, fn)  # __name__, __doc__, __wrapped__ (so tracing reads fn's signature)
        _REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"<custom function {self.name}>"  # no address: node keys hash it and must be stable

    def __reduce__(self):
        """Pickled by reference, as Python pickles a function: by the name it is defined under in its module.

        So a compiled object holding it pickles (Dask ships programs to workers) and unpickles to this
        very function, which equal nodes are hash-consed on (its body and rule hold lambdas: no copy).
        """
        return getattr(self, "__qualname__", self.name)

    # -- the definition ----------------------------------------------------------------
    def defderiv(self, rule: Callable) -> Callable:
        """Decorator: ``rule`` (same arguments) returns the partial derivative, or a tuple of one per argument."""
        if not callable(rule):
            raise InputError(f"{self.name}.defderiv decorates a function, got {type(rule).__name__}")
        try:
            inspect.signature(rule).bind(*self.params)
        except TypeError:
            raise InputError(
                f"the derivative rule of {self.name} must take the same {self.arity} argument(s) as {self.name}"
            ) from None
        except ValueError:
            pass  # no signature to read (a builtin): checked when it is called
        self._rule, self._partials, self._rule_checked = rule, None, False
        _RULES_EXIST[0] = True
        return rule

    @property
    def has_rule(self) -> bool:
        return self._rule is not None

    @property
    def body(self) -> Node:
        """The body as an expression in the placeholder arguments (traced on first use)."""
        if self._body is None:
            if self._tracing:
                raise TraceError(f"custom function {self.name} calls itself in its body; a body must be finite")
            self._tracing = True
            try:
                (self._body,) = self._trace(self.fn, "body", 1)
            finally:
                self._tracing = False
        return self._body

    @property
    def partials(self) -> tuple[Node, ...] | None:
        """The rule's partials in the placeholder arguments (None without a rule)."""
        if self._rule is None:
            return None
        return self.partials_at(self.params)

    def _trace(self, fn: Callable, what: str, count: int) -> tuple[Node, ...]:
        """``fn`` on the placeholders, as scalar expressions of them only (as a traced function sees ``==``)."""
        token = TRACING.set(True)
        try:
            out = fn(*self.params)
        finally:
            TRACING.reset(token)
        items = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(items) != count:
            got = f"{len(items)} values" if isinstance(out, (tuple, list)) else "one value"
            want = "one scalar" if what == "body" else f"{count} partials (a tuple, one per argument)"
            raise InputError(f"the {what} of {self.name} returns {got}; it must return {want}")
        nodes = []
        params = set(self.params)  # by identity: inside a traced function ``in`` a tuple would build ``==`` nodes
        for item in items:
            if isinstance(item, np.ndarray) and item.shape == ():
                item = item[()]
            try:
                node = B.as_node(item)
            except TraceError:
                shape = f"an array of shape {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
                raise InputError(
                    f"the {what} of {self.name} must return scalar expressions (it is applied elementwise), got {shape}"
                ) from None
            stray = [s.name for s in free_symbols([node]) if s not in params]
            if stray:
                raise InputError(
                    f"the {what} of {self.name} uses the symbol(s) {', '.join(stray)}, which are not its arguments; "
                    "pass every value it depends on as an argument"
                )
            nodes.append(node)
        return tuple(nodes)

    # -- applying it ----------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        _ = self.body  # traced at the first call, so a faulty body fails here, where it is used
        values = []
        for pname, v in zip(self._signature.parameters, bound.args):
            v = np.asarray(v, dtype=object) if isinstance(v, (list, tuple)) else v
            if isinstance(v, (str, bytes, complex)) or v is None or isinstance(v, dict):
                raise InputError(f"{self.name}(): argument {pname!r} must be a number, a symbolic value or an array")
            values.append(v)
        try:
            np.broadcast_shapes(*(np.shape(v) for v in values))
        except ValueError:
            shapes = ", ".join(f"{p}: {np.shape(v)}" for p, v in zip(self._signature.parameters, values))
            raise ShapeError(f"{self.name}(): the arguments' shapes do not broadcast ({shapes})") from None
        return B.elementwise(self._apply_values, *values)

    def _apply_values(self, *values) -> Node:
        return self.apply(tuple(B.as_node(v) for v in values))

    def apply(self, args: tuple[Node, ...]) -> Node:
        """The node applying this function to ``args`` (nodes); numbers fold through the body."""
        if len(args) != self.arity:
            raise InputError(f"{self.name} takes {self.arity} argument(s), got {len(args)}")
        if self.arity and all(a.op == "const" or (a.op == CUSTOM and not a.args) for a in args):
            return self.inline(args)
        return make(CUSTOM, tuple(args), self)

    def inline(self, args: Sequence[Node]) -> Node:
        """The body with ``args`` for the arguments, custom functions inside it inlined too."""
        if self._lowered is None:
            (self._lowered,) = lower([self.body])
        return B.substitute([self._lowered], dict(zip(self.params, args)))[0]

    @property
    def label(self) -> str:
        """Its name in graph pictures."""
        return self.name

    @property
    def autograd_name(self) -> str:
        """Its backward node's name as PyTorch calls a custom ``autograd.Function``'s: ``<Name>Backward``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Backward"

    def outer(self, op: str, node: Node) -> Node | None:
        """``op(node)`` rebuilt by a rule of this function (the builders ask): None keeps ``op(node)``."""
        return None

    def format(self, args: Sequence[Node], text_of: Callable[[Node], str]) -> str:
        """The printed application to ``args`` (``text_of`` gives any node's text): ``name(a, b)``."""
        return self.op.text.format(*(text_of(a) for a in args))

    def lowered(self, node: Node, new: dict[Node, Node]) -> Node:
        """``node`` (an application of this function) for code generation, ``new`` holding its operands' forms."""
        return self.inline(tuple(new[a] for a in node.args))

    # -- derivatives and values ------------------------------------------------------------
    def partials_at(self, args: Sequence[Node], differentiate: Callable | None = None) -> tuple[Node, ...]:
        """``d self / d arg_i`` at ``args``: the rule's, else the body's (``differentiate(root, wrt)``)."""
        partials = self._partials
        if partials is None:
            if self._rule is not None:
                partials = self._trace(self._rule, "derivative rule", self.arity)
            elif differentiate is not None:
                partials = tuple(differentiate(self.body, list(self.params)))
            else:
                raise DiffError(f"custom function {self.name} has no derivative rule here")
            self._partials = partials
        return tuple(B.substitute(list(partials), dict(zip(self.params, args))))

    def _evaluate(self, *values):
        """The body's value at numbers or arrays (the reference interpreter's ``ref``)."""
        from .evaluate import evaluate  # evaluate looks ops up through op_of: imported here, not at the top

        return evaluate([self.body], dict(zip(self.params, values)))[0]

    def check_rule(self, points: int = 8, seed: int = 0) -> None:
        """Raise VerificationError if the rule disagrees with central differences of the body."""
        if self._rule is None or self._rule_checked:
            return
        from .domain import valid_points
        from .evaluate import evaluate

        rng = np.random.default_rng(seed)
        at = np.concatenate(
            [rng.uniform(-2.0, 2.0, (self.arity, points)), rng.uniform(0.1, 3.0, (self.arity, points))], 1
        )
        with np.errstate(all="ignore"):
            inside = np.broadcast_to(np.isfinite(self._evaluate(*at)), at.shape[1:])
            if inside.sum() < points:  # a body defined away from [-2, 3] (log(x - 5)): points in its domain too
                found = valid_points([self.body], self.params, count=2 * points, seed=seed, max_edges=0)
                if found:
                    at = np.concatenate([at[:, inside], np.array([found[p] for p in self.params])], 1)
        env = dict(zip(self.params, at))
        with np.errstate(all="ignore"):
            rule = [
                np.broadcast_to(np.asarray(r, dtype=float), at.shape[1:]) for r in evaluate(list(self.partials), env)
            ]
            for i, p in enumerate(self.params):
                h = 1e-6 * np.maximum(1.0, np.abs(at[i]))
                up, down = dict(env), dict(env)
                up[p], down[p] = at[i] + h, at[i] - h
                hi, lo = np.asarray(self._evaluate(*up.values())), np.asarray(self._evaluate(*down.values()))
                fd = np.broadcast_to((hi - lo) / (2 * h), at.shape[1:])
                # the rounding of the two values, divided by 2h: a body far larger than its slope
                # (1e9 + x**2) has central differences no better than that, whatever the rule
                noise = np.broadcast_to(16 * np.finfo(float).eps * (np.abs(hi) + np.abs(lo)) / (2 * h), fd.shape)
                finite = np.isfinite(fd) & np.isfinite(rule[i])
                bad = finite & (np.abs(fd - rule[i]) > 1e-5 * (1.0 + np.abs(rule[i])) + noise)
                if bad.any():
                    k = int(np.argmax(bad))
                    point = ", ".join(f"{n}={at[j, k]:.6g}" for j, n in enumerate(self._signature.parameters))
                    arg = list(self._signature.parameters)[i]
                    raise VerificationError(
                        f"the derivative rule of the custom function {self.name} (defderiv) disagrees with its body: "
                        f"d{self.name}/d{arg} at {point} is {rule[i][k]:.10g} by the rule but {fd[k]:.10g} by central "
                        f"differences of the body; the rule must return the body's partial derivative(s)"
                    )
        self._rule_checked = True


class _NamedConstant(CustomFunction):
    """A number with a name (``pi``): a custom function of no arguments whose body is the number."""

    def __init__(self, name: str, value: float, sympy_name: str) -> None:
        self.name = name
        self.arity = 0
        self.params = ()
        self.constant = value
        self._rule = self._partials = None
        self._body = self._lowered = const(value)
        self._rule_checked, self._tracing = True, False
        self.op = Op(
            name=name, arity=0, ref=lambda: value, partials=lambda B_, args, out: (), text=name,
            sympy=lambda sp: getattr(sp, sympy_name),
        )  # fmt: skip

    def __reduce__(self):
        return (_named_constant, (self.name,))

    def apply(self, args: tuple[Node, ...]) -> Node:
        return make(CUSTOM, (), self)

    def inline(self, args: Sequence[Node]) -> Node:
        return self._body


pi = _NamedConstant("pi", math.pi, "pi").apply(())
"""pi as a named constant: prints ``pi`` (``\\pi`` in LaTeX), is math.pi in generated code."""
E = _NamedConstant("E", math.e, "E").apply(())
"""Euler's number as a named constant, sympy's ``E``."""


def _named_constant(name: str) -> _NamedConstant:
    """The function behind ``pi`` or ``E``, for unpickling: the one of this process."""
    return {"pi": pi, "E": E}[name].value


def custom_function(
    fn: Callable | None = None, *, name: str | None = None
) -> CustomFunction | Callable[[Callable], CustomFunction]:
    """Decorator defining a differentiable function by its body: ``@sg.custom_function`` or ``(name=...)``.

    Give it a derivative rule with ``@f.defderiv`` (written in symgrad
    expressions, so it is differentiated again for higher orders); without one
    the body is differentiated.  It prints by its name and code evaluates its body.
    """
    if fn is None:
        return lambda f: CustomFunction(f, name)
    return CustomFunction(fn, name)


# -- passes over graphs holding custom functions ----------------------------------------------------


def lower(roots: Sequence[Node], order: Sequence[Node] | None = None) -> list[Node]:
    """The roots with every custom function inlined (its body) and named constants as numbers.

    Code generation runs on the result, so printers and backends see only the op table's ops.
    A compiled object lowers the distinct nodes of its slots (a dense Hessian's 9*10^6 slots
    hold ~9,000), not every slot: see :meth:`symgrad.codegen.kernel.SlotTable.replaced`.
    """
    if order is None:
        order = toposort(dict.fromkeys(roots))  # distinct first, at C speed
    if not any(n.op == CUSTOM for n in order):  # ``order``: every node under the roots (a slot table's)
        return list(roots)  # the usual case: the graph as it is, not rebuilt
    return B.rewrite(roots, lambda node, new: node.value.lowered(node, new) if node.op == CUSTOM else None)


def note_derivatives(roots: Sequence[Node], results: Sequence[Node]) -> None:
    """Remember that ``results`` (derivatives of ``roots``) were built with the rules behind ``roots``.

    Derivatives are plain nodes, so without this a compiled gradient could not
    tell which rules :func:`check_rules` must check.  Free until a rule exists.
    """
    if not _RULES_EXIST[0]:
        return
    used = rules_behind(roots)
    if used:
        for r in results:
            if r.args:  # constants and symbols are shared by everything: never marked
                _DERIVED[r] = _DERIVED.get(r, frozenset()) | used


def rules_behind(roots: Sequence[Node]) -> set[CustomFunction]:
    """The custom functions with rules that ``roots`` apply or were differentiated with (bodies and rules included)."""
    found: set[CustomFunction] = set()
    if not _RULES_EXIST[0]:
        return found
    seen: set[CustomFunction] = set()
    work = list(roots)
    while work:
        fresh: list[CustomFunction] = []
        for n in toposort(work):
            derived = _DERIVED.get(n) if n.args else None
            if derived:
                found |= derived
            if n.op == CUSTOM and n.args and n.value not in seen:
                seen.add(n.value)
                fresh.append(n.value)
        work = []
        for fn in fresh:
            work.append(fn.body)
            if fn.has_rule:
                found.add(fn)
                work.extend(fn.partials)
    return found


def check_rules(roots: Sequence[Node]) -> None:
    """Check the rule of every custom function behind ``roots`` against its body (``verify=True``)."""
    for fn in sorted(rules_behind(roots), key=lambda f: f.name):
        fn.check_rule()
