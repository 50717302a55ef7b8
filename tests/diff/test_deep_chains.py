"""Issue 15's reproducers: derivatives of deep chains stay linear in the chain's length.

Reverse mode multiplies an adjoint by one local partial per step.  When every
product was flattened into one n-ary node, each step rebuilt the product of all
the partials before it: ``y = sin(y)`` repeated N times took 0.29 s, 1.09 s,
4.46 s and 28 s for N = 1k, 2k, 4k, 10k, and the recurrence
``y = tanh(y)*x + 0.5`` kept every partial product (2.0 M operands at 2,000
steps).  A product of more than ``FLATTEN_LIMIT`` factors now stays one factor.
Sizes are counted, not timed: the operands of the derivative graph must grow
linearly with N (within 2.5x per doubling), and the values must be right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import nodes_created

import symgrad as sg
from symgrad.diff.reverse import gradient_nodes
from symgrad.ir import builders as B
from symgrad.ir.node import toposort

X = sg.symbols("x")


def sin_chain(n: int):
    y = X
    for _ in range(n):
        y = sg.sin(y)
    return y


def rnn(n: int):
    y = X
    for _ in range(n):
        y = sg.tanh(y) * X + 0.5
    return y


def operands(roots) -> int:
    return sum(len(n.args) for n in toposort(roots))


def sin_chain_reference(x: float, n: int) -> tuple[float, float, float]:
    """Value, first and second derivative by forward accumulation in floats."""
    y, d1, d2 = x, 1.0, 0.0
    for _ in range(n):
        s, c = math.sin(y), math.cos(y)
        y, d1, d2 = s, c * d1, -s * d1 * d1 + c * d2
    return y, d1, d2


def rnn_reference(x: float, n: int) -> tuple[float, float]:
    y, d = x, 1.0
    for _ in range(n):
        t = math.tanh(y)
        y, d = t * x + 0.5, (1 - t * t) * d * x + t
    return y, d


@pytest.mark.parametrize("chain", [sin_chain, rnn], ids=["sin", "rnn"])
def test_gradient_size_is_linear(chain):
    sizes = [operands(gradient_nodes(chain(n), [X])) for n in (500, 1000, 2000)]
    assert sizes[1] < 2.5 * sizes[0] and sizes[2] < 2.5 * sizes[1], sizes


@pytest.mark.parametrize("chain", [sin_chain, rnn], ids=["sin", "rnn"])
def test_gradient_work_is_linear(chain):
    """The sin chain's gradient was small but rebuilt a k-factor product at step k: count what is built."""
    ys = {n: chain(n) for n in (500, 1000, 2000)}
    work = [nodes_created(lambda y=y: gradient_nodes(y, [X]))[1] for y in ys.values()]
    assert work[1] < 2.5 * work[0] and work[2] < 2.5 * work[1], work


def test_second_derivative_size_is_linear_in_both_modes():
    for n_small, n_big in [(500, 1000), (1000, 2000)]:
        small, big = sin_chain(n_small), sin_chain(n_big)
        reverse = [operands([gradient_nodes(gradient_nodes(y, [X])[0], [X])[0]]) for y in (small, big)]
        taylor = [operands([sg.diff(y, X, 2)]) for y in (small, big)]
        assert reverse[1] < 2.5 * reverse[0] and taylor[1] < 2.5 * taylor[0], (reverse, taylor)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_deep_chain_derivatives_are_right(backend):
    n = 3000
    y = sin_chain(n)
    f = sg.compile([y, sg.diff(y, X), sg.diff(y, X, 2)], inputs=[X], backend=backend)
    for x0 in (0.3, -1.2, 2.5):
        got = np.asarray(f(x0), dtype=float).ravel()
        np.testing.assert_allclose(got, sin_chain_reference(x0, n), rtol=1e-9, atol=1e-12)
    z = rnn(n)
    g = sg.compile([z, sg.diff(z, X)], inputs=[X], backend=backend)
    for x0 in (0.3, 0.9):
        np.testing.assert_allclose(np.asarray(g(x0), dtype=float).ravel(), rnn_reference(x0, n), rtol=1e-9)


def test_long_products_stay_whole_but_still_simplify():
    factors = sg.symbols("a:12")
    p = B.mul(*factors)
    assert len(p.args) == 12
    q = B.mul(p, X)
    assert q.op == "mul" and p in q.args  # not copied into a 13-factor product
    assert B.mul(3, B.mul(2, p)) is B.mul(6, p)  # coefficients still collect
    assert B.mul(p, B.pow(p, -1)) is B.as_node(1)
    assert B.add(B.mul(2, p), B.mul(-2, p)) is B.as_node(0)
    assert str(B.pow(p, 2)) == f"({p})**2"
    values = dict(zip(factors, np.linspace(0.5, 1.6, 12)))
    value = sg.lambdify([*factors, X], B.pow(q, 2))(*values.values(), 1.3)
    assert value == pytest.approx((np.prod(list(values.values())) * 1.3) ** 2, rel=1e-13)


def test_the_garbage_collector_is_paused_only_while_building():
    import gc

    from symgrad.limits import gc_paused

    assert gc.isenabled()
    sg.diff(sin_chain(50), X, 2)
    gradient_nodes(rnn(50), [X])
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        raise ZeroDivisionError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector the caller switched off stays off
    finally:
        gc.enable()


def test_the_collector_is_paused_while_a_function_is_traced_and_back_after():
    import gc

    seen = []

    def f(x):
        seen.append(gc.isenabled())
        return sg.sin(x) * x

    assert gc.isenabled()
    sg.grad(f)(0.3)
    assert seen == [False] and gc.isenabled()

    def broken(x):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        sg.grad(broken)
    assert gc.isenabled()  # also when the traced function raises
