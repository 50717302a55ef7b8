"""Univariate Taylor mode: high derivatives of one variable without expression swell.

Applying reverse mode k times differentiates the *derivative graph* each time, so
the graph grows roughly geometrically with k.  Taylor mode instead propagates the
truncated series ``y(x + t) = sum_j y_j t**j`` (``y_j = y^(j)(x) / j!``) through the
*original* graph: each coefficient of each node is a short sum of products of
lower coefficients, which hash-consing shares, so the size grows polynomially.

The outer loop runs over the order j and the inner one over the nodes in a
dependency order, so every coefficient is built from ones that already exist
(no recursion over the graph).  Only ``add``, ``mul``, ``pow`` and ``where`` have
rules here; every other op uses its partials from the op table
(:data:`symgrad.ir.ops.OPS`): from ``y' = sum_i p_i u_i'`` follows
``y_j = (1/j) sum_i sum_{l=1..j} l (u_i)_l (p_i)_{j-l}``, where the partials
``p_i`` (expressions in the operands and in ``y``) get series of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from ..errors import DiffError
from ..ir import builders as B
from ..ir.builders import is_fractional
from ..ir.custom import note_derivatives
from ..ir.node import Node, const, toposort
from ..limits import checkpoint, gc_paused
from .reverse import _dependents, check_variables, partials_of

ZERO = const(0)
ONE = const(1)

Series = list[Node]


class _Rule:
    """How one node's coefficient j follows from its operands' series.

    ``operands`` are the nodes whose coefficient j is read (they are ordered
    before the node); ``lagged`` are nodes of which only coefficients below j are
    read, so they may come anywhere in the order.
    """

    def __init__(self, coeff: Callable[[int], Node], operands: Sequence[Node] = (), lagged: Sequence[Node] = ()):
        self.coeff = coeff
        self.operands = list(operands)
        self.lagged = list(lagged)


def _cauchy(a: Series, b: Series, j: int, scale: Node = ONE) -> Node:
    """Coefficient j of the product of two series, times ``scale``; zero factors are skipped."""
    if a is b:  # a square: each cross term appears twice
        half = range((j + 1) // 2)
        terms = [B.mul(scale, 2, a[i], a[j - i]) for i in half if a[i] is not ZERO and a[j - i] is not ZERO]
        if j % 2 == 0 and a[j // 2] is not ZERO:
            terms.append(B.mul(scale, a[j // 2], a[j // 2]))
        return B.add(*terms)
    return B.add(*(B.mul(scale, a[i], b[j - i]) for i in range(j + 1) if a[i] is not ZERO and b[j - i] is not ZERO))


def _chain(pairs: list[tuple[Series, Series]], j: int) -> Node:
    """``y_j = (1/j) sum l u_l p_{j-l}`` over (u, p) pairs: the series form of ``y' = sum p u'``."""
    terms = []
    for u, p in pairs:
        for lag in range(1, j + 1):
            if u[lag] is not ZERO and p[j - lag] is not ZERO:
                terms.append(B.mul(Fraction(lag, j), u[lag], p[j - lag]))
    return B.add(*terms)


class _Taylor:
    """The state of one expansion: each node's series, its rule, and the evaluation order."""

    def __init__(self, root: Node, var: Node, order: int):
        self.var = var
        self.order = order
        graph = toposort([root])
        marked = _dependents(graph, {var})
        self.depends: dict[Node, bool] = {n: n in marked for n in graph}
        self.series: dict[Node, Series] = {}
        self.rules: dict[Node, _Rule] = {}
        self.schedule: list[Node] = []

    # -- dependence and series storage ------------------------------------------
    def _mark(self, node: Node) -> bool:
        """Whether ``node`` depends on the variable; extends the marks over nodes built here."""
        if node in self.depends:
            return self.depends[node]
        stack = [node]
        while stack:
            top = stack[-1]
            new = [a for a in top.args if a not in self.depends]
            if new:
                stack.extend(new)
                continue
            stack.pop()
            self.depends[top] = top is self.var or any(self.depends[a] for a in top.args)
        return self.depends[node]

    def _ser(self, node: Node) -> Series:
        """The (growing) series list of a node; a node free of the variable is constant."""
        s = self.series.get(node)
        if s is None:
            s = [node] if self._mark(node) else [node] + [ZERO] * self.order
            self.series[node] = s
        return s

    # -- rules -----------------------------------------------------------------------
    def _rule(self, y: Node) -> _Rule:
        """Pick the propagation rule of a node that depends on the variable."""
        if y is self.var:
            return _Rule(lambda j: ONE if j == 1 else ZERO)
        if y.op == "add":
            dep = [a for a in y.args if self._mark(a)]
            parts = [self._ser(a) for a in dep]
            return _Rule(lambda j: B.add(*(s[j] for s in parts)), dep)
        if y.op == "mul":
            dep = [a for a in y.args if self._mark(a)]
            scale = B.mul(*(a for a in y.args if not self._mark(a)))
            return self._product([self._ser(a) for a in dep], _left_fold(len(dep)), scale, dep)
        if y.op == "pow":
            return self._pow(y)
        if y.op == "where":
            return self._where(y)
        partials = partials_of(y)  # the op table's, or a custom function's rule
        return self._generic(y, [(u, p) for u, p in zip(y.args, partials) if self._mark(u) and p is not ZERO])

    def _generic(self, y: Node, pairs: list[tuple[Node, Node]]) -> _Rule:
        """``y' = sum p_i u_i'``: the operands are read at order j, the partials below it."""
        series = [(self._ser(u), self._ser(p)) for u, p in pairs]
        return _Rule(lambda j: _chain(series, j), [u for u, _ in pairs], [p for _, p in pairs])

    def _product(self, factors: list[Series], steps: list[tuple[int, int]], scale: Node, operands: list[Node]) -> _Rule:
        """A chain of Cauchy products over registers: ``regs[k] * regs[m]`` appends a register.

        The registers start as ``factors``; every step but the last keeps its whole
        series (the next steps read it), the last one is the node's own coefficient,
        and carries ``scale`` (the factors free of the variable) inside each term.
        """
        regs = list(factors)
        for k, m in steps[:-1]:
            regs.append([B.mul(regs[k][0], regs[m][0])])

        def coeff(j: int) -> Node:
            if not steps:
                return B.mul(scale, regs[0][j])
            for t, (k, m) in enumerate(steps[:-1]):
                regs[len(factors) + t].append(_cauchy(regs[k], regs[m], j))
            k, m = steps[-1]
            return _cauchy(regs[k], regs[m], j, scale)

        return _Rule(coeff, operands)

    def _pow(self, y: Node) -> _Rule:
        """Positive integer powers by Cauchy products (exact, no division by the base: x**5 at 0)."""
        base, expo = y.args
        if self._mark(expo):  # b**e = exp(e*log(b)), whose partial is y itself
            if base.op == "const" and base.value == 0:  # 0**e: constant where finite, as the pow partial says
                return _Rule(lambda j: ZERO)
            w = B.mul(expo, B.call("log", base))
            return self._generic(y, [(w, y)])
        if expo.op == "const" and isinstance(expo.value, int) and expo.value > 0:
            return self._product([self._ser(base)], _binary_powering(expo.value), ONE, [base])
        if expo.op != "const":  # x**n at 0 is n*(n-1)*...*x**(n-k): finite where the recurrence's x**n/x**k is 0/0
            return self._power_of_a_series(base, expo)
        if is_fractional(expo.value) and base.op != "sym":
            return self._power_of_a_series(base, expo.value)
        return self._power_recurrence(y, base, expo.value)

    def _power_of_a_series(self, base: Node, r: Node | Fraction | float) -> _Rule:
        """Faa di Bruno for ``y = u**r``: ``y_j = sum_m binom(r, m) u_0**(r - m) [t**j] (u - u_0)**m``, no division.

        The recurrence divides by ``u_0``: where the base of ``maximum(sin(x), 0)**4.5``
        vanishes (all of x < 0) its series are 0/0, though the power is flat there
        and its derivatives 0, as reverse mode's chain rule (which divides by
        nothing) and sympy find.  The powers of ``u - u_0`` cost a few Cauchy products more.
        A symbolic exponent ``r`` (a node free of the variable) gets the same terms as nodes.
        """
        u = self._ser(base)
        shifted: list[Series] = [[]]  # shifted[m][j]: coefficient j of (u - u_0)**m, which starts at t**m
        binoms: list[Node | Fraction | float] = [1]  # binoms[m]: binom(r, m)

        def coeff(j: int) -> Node:
            shifted.append([ZERO] * j)
            shifted[1].append(u[j])
            for m in range(2, j + 1):
                shifted[m].append(_cauchy(shifted[m - 1], shifted[1], j))
            binoms.append(binoms[-1] * (r - (j - 1)) / j)
            terms = [B.mul(binoms[m], B.pow(base, r - m), shifted[m][j]) for m in range(1, j + 1)]
            return B.add(*(t for t in terms if t is not ZERO))

        return _Rule(coeff, [base])

    def _power_recurrence(self, y: Node, base: Node, r) -> _Rule:
        """``u y' = r u' y`` for ``y = u**r`` gives ``y_j = (1/(j u_0)) sum (r i - (j-i)) u_i y_{j-i}``."""
        u, ys = self._ser(base), self._ser(y)
        inv = B.pow(base, -1)

        def weight(i: int, j: int) -> Fraction | float:
            return (r * i - (j - i)) / j if isinstance(r, float) else Fraction(r * i - (j - i), j)

        def coeff(j: int) -> Node:
            terms = [B.mul(weight(i, j), u[i], ys[j - i]) for i in range(1, j + 1) if u[i] is not ZERO]
            return B.mul(inv, B.add(*terms))

        return _Rule(coeff, [base])

    def _where(self, y: Node) -> _Rule:
        """Coefficientwise select: nan-safe, since a branch's coefficients never meet the other's."""
        cond, a, b = y.args
        sa, sb = self._ser(a), self._ser(b)
        return _Rule(lambda j: B.where(cond, sa[j], sb[j]), [n for n in (a, b) if self._mark(n)])

    # -- order and propagation ---------------------------------------------------
    def _place(self, root: Node) -> list[Node]:
        """Append ``root`` and the operands it needs to the schedule (iterative DFS); return its lagged nodes."""
        lagged: list[Node] = []
        pending: dict[Node, _Rule] = {}
        stack = [root]
        while stack:
            node = stack[-1]
            if node in self.rules:
                stack.pop()
                continue
            if node not in pending:
                pending[node] = self._rule(node)
            rule = pending[node]
            todo = [a for a in rule.operands if a not in self.rules]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            self.rules[node] = rule
            self.schedule.append(node)
            lagged.extend(rule.lagged)
        return lagged

    def _build_schedule(self, root: Node) -> None:
        """Place the root, then every partial expression the rules read (lazily, as found)."""
        work = [root]
        while work:
            node = work.pop()
            if node not in self.rules and self._mark(node):
                self._ser(node)
                work.extend(self._place(node))

    def run(self, root: Node) -> Series:
        """Coefficients 0..order of ``root``: order j of every node before order j + 1 of any."""
        series = self._ser(root)
        if not self._mark(root):
            return series
        self._build_schedule(root)
        for j in range(1, self.order + 1):
            checkpoint()  # one clock read per order: a time budget stops a runaway order
            for node in self.schedule:
                self.series[node].append(self.rules[node].coeff(j))
        return series


def _left_fold(n: int) -> list[tuple[int, int]]:
    """Steps multiplying registers 0..n-1 left to right: ``((r0 * r1) * r2) * ...``."""
    return [(0, 1)] + [(n + t, t + 2) for t in range(n - 2)] if n > 1 else []


def _binary_powering(n: int) -> list[tuple[int, int]]:
    """Steps (register pairs) computing ``u**n`` from register 0 by repeated squaring."""
    steps: list[tuple[int, int]] = []
    square, result, count = 0, None, 1
    while n:
        if n & 1:
            if result is not None:
                steps.append((result, square))
                count += 1
                result = count - 1
            else:
                result = square
        n >>= 1
        if n:
            steps.append((square, square))
            count += 1
            square = count - 1
    return steps


def taylor_coefficients(root: Node, var: Node, order: int) -> list[Node]:
    """``[f, f', f''/2!, ..., f^(order)/order!]`` at ``var``, as graph nodes."""
    check_variables([var])
    if order < 0:
        raise DiffError(f"derivative order must be >= 0, got {order}")
    with gc_paused():
        series = list(_Taylor(root, var, order).run(root))
    note_derivatives([root], series[1:])  # so verify=True knows which custom rules built them
    return series


def nth_derivative(root: Node, var: Node, order: int) -> Node:
    """The ``order``-th derivative of ``root`` with respect to ``var``, by Taylor mode."""
    result = B.mul(math.factorial(order), taylor_coefficients(root, var, order)[order])
    note_derivatives([root], [result])
    return result
