"""``logsumexp``, ``softmax`` and ``log_softmax`` as named functions of the graph.

Written out, these are unreadable: the stable form shifts every exponent by a
gradient-free maximum, and ``str()``, reports and graph pictures would show the
whole stabiliser chain.  So each is a custom function (:mod:`symgrad.ir.custom`)
that prints by name, carries its textbook derivative, and is inlined into the
stable max-shifted form only where code is generated:

- ``logsumexp(z_1, ..., z_n)`` is one node over the n values; its partial
  derivatives are ``softmax(z)[j]``.
- ``softmax(z)[i]`` is a node of two operands, ``z_i`` and the ``logsumexp(z)``
  node, with value ``exp(z_i - logsumexp(z))``; ``log_softmax(z)[i]`` likewise,
  with value ``z_i - logsumexp(z)``.  Through the shared ``logsumexp`` node a
  softmax over n values is O(n) nodes and edges (not n operands per element),
  and the chain rule gives ``softmax_i (delta_ij - softmax_j)``.
- ``log(softmax(z)[i])`` is built as ``log_softmax(z)[i]`` and
  ``exp(log_softmax(z)[i])`` as ``softmax(z)[i]``: no ``log(exp(...)/sum)``.

Printing shows the values a function was applied to, ``z`` for ``z[0], ..., z[n-1]``
(the elements of an array symbol in order): ``softmax(z)[0]``, ``logsumexp(x, y, w)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

from ..errors import InputError
from . import builders as B
from .custom import CUSTOM, CustomFunction
from .node import Node, const, make, symbol
from .ops import Op

_FAMILY: dict[tuple[str, int], _Family] = {}


def _shifted(values: Sequence[Node]) -> tuple[Node, Node]:
    """The (gradient-free) maximum m of ``values`` and ``sum(exp(v - m))``: no exponent overflows."""
    shift = B.call("stop_gradient", B.balanced("maximum", values))
    return shift, B.add(*(B.call("exp", B.add(v, B.mul(-1, shift))) for v in values))


def stable_logsumexp(values: Sequence[Node]) -> Node:
    """``log(sum(exp(v - m))) + m``, m the maximum; an infinite m is the result, as scipy's.

    (``v - m`` is inf - inf = nan there: an element +inf, or every element -inf, the log of
    a sum of zero probabilities.)
    """
    shift, total = _shifted(values)
    return B.where(B.call("eq", B.call("abs", shift), math.inf), shift, B.add(B.call("log", total), shift))


def values_text(args: Sequence[Node], text_of: Callable[[Node], str]) -> str:
    """``z`` when ``args`` are the elements ``z[...,0], ..., z[...,n-1]`` of an array symbol in order, else a list."""
    if args and all(a.op == "sym" for a in args):
        name, index = args[0].value
        if index and all(a.value == (name, index[:-1] + (k,)) for k, a in enumerate(args)):
            prefix = index[:-1]
            return name + (f"[{', '.join(map(str, prefix))}]" if prefix else "")
    return ", ".join(text_of(a) for a in args)


class _Family(CustomFunction):
    """One member of the family: ``logsumexp`` of n values, or ``softmax``/``log_softmax`` element i.

    Members are made once per (kind, n or i) by :func:`member`, so equal applications
    are one node (nodes are hash-consed on the function object).
    """

    def __init__(self, kind: str, count: int) -> None:
        self.kind = kind
        self.index = None if kind == "logsumexp" else count
        self.name = kind
        self.arity = count if kind == "logsumexp" else 2
        names = [f"v{k}" for k in range(self.arity)] if kind == "logsumexp" else ["value", "logsumexp"]
        self._signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])
        self.params = tuple(symbol(f"{kind}:{n}") for n in names)
        self.constant = None
        self._rule = None
        self._partials = None
        self._lowered = None
        self._rule_checked, self._tracing = True, False
        if kind == "logsumexp":
            self._body = stable_logsumexp(self.params)
        else:
            shifted = B.add(self.params[0], B.mul(-1, self.params[1]))
            self._body = B.call("exp", shifted) if kind == "softmax" else shifted
        self.op = Op(
            name=kind, arity=self.arity, ref=self._evaluate, partials=lambda B_, args, out: self.partials_at(args),
            text=kind, sympy=self._explicit_sympy,
        )  # fmt: skip

    def __reduce__(self):
        """Pickled as the member it is (one per process: nodes are hash-consed on it)."""
        return (member, (self.kind, self.arity if self.index is None else self.index))

    def __repr__(self) -> str:
        return f"<{self.kind} {'of' if self.index is None else 'element'} {self.arity if self.index is None else self.index}>"

    @property
    def label(self) -> str:
        return self.kind if self.index is None else f"{self.kind}[{self.index}]"

    @property
    def autograd_name(self) -> str:  # PyTorch's grad_fn names for these
        return {"logsumexp": "LogsumexpBackward0", "softmax": "SoftmaxBackward0"}.get(self.kind, "LogSoftmaxBackward0")

    # -- building -------------------------------------------------------------------------
    def apply(self, args: tuple[Node, ...]) -> Node:
        if len(args) != self.arity:
            raise InputError(f"{self.name} takes {self.arity} operands here, got {len(args)}")
        if all(a.op == "const" for a in args):
            return self.inline(args)
        if self.index is not None and not owns(args[1], args[0], self.index):
            return self.inline(args)  # the second operand is no longer logsumexp(z) with z_i first: plain math
        return make(CUSTOM, tuple(args), self)

    def outer(self, op: str, node: Node) -> Node | None:
        """``op(node)`` rebuilt: the log of a softmax is a log_softmax, the exp of a log_softmax a softmax."""
        if op == "log" and self.kind == "softmax":
            return member("log_softmax", self.index).apply(node.args)
        if op == "exp" and self.kind == "log_softmax":
            return member("softmax", self.index).apply(node.args)
        return None

    def lowered(self, node: Node, new: dict[Node, Node]) -> Node:
        """Softmax as ``exp(z_i - m) / sum(exp(z_j - m))``, log_softmax as ``(z_i - m) - log(sum(exp(z_j - m)))``.

        The subtraction of m comes first, exact at the maximum: ``z_i - logsumexp(z)`` would
        round ``log(sum) + m`` first and lose the log's digits against a large m (all of them:
        log_softmax of ``[1e300, 1e300]`` would be 0, not -log 2).  ``z_i - m`` is one operand
        (a ``stop_gradient``, free once derivatives are built), since a sum's operands are
        added in canonical order.  Over the same m and sum as the logsumexp node's code
        (hash-consing shares them).
        """
        if self.kind == "logsumexp":
            return super().lowered(node, new)
        shift, total = _shifted([new[a] for a in node.args[1].args])
        centred = B.add(new[node.args[0]], B.mul(-1, shift))
        if self.kind == "softmax":
            return B.mul(B.call("exp", centred), B.pow(total, -1))
        return B.add(B.call("stop_gradient", centred), B.mul(-1, B.call("log", total)))

    # -- derivatives --------------------------------------------------------------------------
    def partials_at(self, args: Sequence[Node], differentiate=None) -> tuple[Node, ...]:
        if self.kind == "logsumexp":
            total = self.apply(tuple(args))
            return tuple(member("softmax", j).apply((a, total)) for j, a in enumerate(args))
        if self.kind == "softmax":
            s = self.apply(tuple(args))
            return s, B.mul(-1, s)
        return const(1), const(-1)

    # -- printing ---------------------------------------------------------------------------
    def format(self, args: Sequence[Node], text_of: Callable[[Node], str]) -> str:
        if self.kind == "logsumexp":
            return f"logsumexp({values_text(args, text_of)})"
        return f"{self.kind}({values_text(args[1].args, text_of)})[{self.index}]"

    def _explicit_sympy(self, sp, *args):
        """The math in sympy's terms (what sympy can simplify and evaluate): exp, log and sums."""
        if self.kind == "logsumexp":
            return sp.log(sp.Add(*(sp.exp(a) for a in args)))
        value, total = args
        return sp.exp(value - total) if self.kind == "softmax" else value - total


def member(kind: str, count: int) -> _Family:
    """The family member ``kind`` for n values (logsumexp) or element i (softmax, log_softmax)."""
    fn = _FAMILY.get((kind, count))
    if fn is None:  # setdefault: two threads making the same member at once end up with one
        fn = _FAMILY.setdefault((kind, count), _Family(kind, count))
    return fn


def owns(total: Node, value: Node, index: int) -> bool:
    """Whether ``total`` is a logsumexp node whose operand ``index`` is ``value``."""
    return (
        total.op == CUSTOM
        and isinstance(total.value, _Family)
        and total.value.kind == "logsumexp"
        and index < len(total.args)
        and total.args[index] is value
    )


def kind_of(node: Node) -> str | None:
    """``"logsumexp"``, ``"softmax"`` or ``"log_softmax"`` for the family's nodes, else None."""
    if node.op == CUSTOM and isinstance(node.value, _Family):
        return node.value.kind
    return None


def logsumexp(values: Sequence[Node]) -> Node:
    """The logsumexp node of ``values`` (a value itself when there is one)."""
    values = tuple(B.as_node(v) for v in values)
    if len(values) == 1:
        return values[0]
    return member("logsumexp", len(values)).apply(values)


def softmax(values: Sequence[Node]) -> list[Node]:
    """``softmax(values)[i]`` for each i, over one shared logsumexp node."""
    values = tuple(B.as_node(v) for v in values)
    total = logsumexp(values)
    return [member("softmax", i).apply((v, total)) for i, v in enumerate(values)]


def log_softmax(values: Sequence[Node]) -> list[Node]:
    """``log_softmax(values)[i] = values[i] - logsumexp(values)`` for each i, printed by name."""
    values = tuple(B.as_node(v) for v in values)
    total = logsumexp(values)
    return [member("log_softmax", i).apply((v, total)) for i, v in enumerate(values)]
