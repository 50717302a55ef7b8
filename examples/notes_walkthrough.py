"""Walk through the course notes' worked examples with symgrad, end to end.

Run:  python examples/notes_walkthrough.py

Each section prints the formula symgrad derives, the numbers at the notes'
point, and (where the notes slipped) what the right answer is.  It ends with a
Hessian and a batched evaluation over a million points.
"""

from __future__ import annotations

import time

import numpy as np

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def n1_graph() -> None:
    section("N1  z = x + y, w = 2*z")
    x, y = sg.symbols("x y")
    w = 2 * (x + y)
    print("w =", w, "| dw/dx =", sg.diff(w, x), "| dw/dy =", sg.diff(w, y))
    print("at x=2, y=3: w =", sg.compile(w, inputs=[x, y])(2.0, 3.0))


def n2_vectors() -> None:
    section("N2  Q = 3*a**3 - b**2 on vectors (and the notes' slip N2')")
    a, b = sg.symbols("a b")
    Q = 3 * a**3 - b**2
    print("dQ/da =", sg.diff(Q, a), "  dQ/db =", sg.diff(Q, b))

    def q(a, b):
        return 3 * a**3 - b**2

    av, bv = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    value, backward = sg.vjp(q, av, bv)
    print("Q(a, b) =", value, " backward with ones:", backward(np.ones(2)))
    print("per-element grad (batch of scalars):", sg.grad(q, argnums=(0, 1))(av, bv))
    wrong = 3 * a**3 * b**2
    print(
        "N2' slip: for Q = 3*a**3*b**2, dQ/db =",
        sg.diff(wrong, b),
        "not -2*b; at the point:",
        sg.grad(lambda a, b: 3 * a**3 * b**2, argnums=1)(av, bv),
    )


def n3_to_n7_scalars() -> None:
    section("N3-N7  scalar derivatives")
    x = sg.symbols("x")
    y3 = (x - 3) * (x - 6) * (x - 4)
    print("N3  y =", y3, "  dy/dx =", sg.diff(y3, x), " at 1:", sg.grad(lambda x: (x - 3) * (x - 6) * (x - 4))(1.0))
    print("N4  d(5*x**3)/dx at 2:", sg.grad(lambda x: 5 * x**3)(2.0))
    print("N5  d(3*x**2 + 15)/dx =", sg.diff(3 * x**2 + 15, x), " at 3:", sg.grad(lambda x: 3 * x**2 + 15)(3.0))

    def n6(x1, x2):
        return x1**3 + x2**2 + 4 * x1 * x2 + 5

    g = sg.grad(n6, argnums=(0, 1))
    print("N6  grad =", g.outputs, " at (3, 4):", g(3.0, 4.0))
    xs, u, k, l_ = sg.symbols("x u k l")
    z = 3 * xs**5 + 2 * u**2 * k * xs + l_ * xs + l_
    grads = sg.gradient(z, [xs, u, k, l_])
    values = sg.compile(grads, inputs=[xs, u, k, l_])(2.0, 4.0, 3.0, 1.0)
    print("N7  grad =", list(grads), " at (2, 4, 3, 1):", values)


def n8_n10_losses() -> None:
    section("N8-N10  losses, and the notes' slips")

    def loss_mean(x):
        return sg.mean(2 * (x + 2) ** 2)

    def loss_third(x):
        z = 2 * (x + 2) ** 2
        return (z[0] + z[1]) / 3

    shapes = {"x": (2,)}
    x0 = np.array([1.0, 2.0])
    print("N8  dL/dx with the mean:", sg.grad(loss_mean, shapes=shapes)(x0))
    print("N8' dL/dx with /3 (the notes' formula):", sg.grad(loss_third, shapes=shapes)(x0), "- not (6, 8)")
    w, x, y = sg.symbols("w x y")
    loss = (w * x - y) ** 2
    print(
        "N9  dloss/dw =",
        sg.diff(loss, w),
        " at x=1, y=2, w=1:",
        sg.compile(sg.diff(loss, w), inputs=[w, x, y])(1.0, 1.0, 2.0),
    )
    W, b = sg.symbols("W b")
    L = (y - (W * x + b)) ** 2
    right = sg.diff(L, W)
    print("N10 dL/dW =", sg.simplify(right), "  dL/db =", sg.simplify(sg.diff(L, b)))
    notes = 2 * (y - (W * x + b)) * W * x
    print("    the notes' dL/dW = 2*(y - (W*x + b))*W*x differs from it by", sg.simplify(notes - right))


def n11_n15_vectors() -> None:
    section("N11-N15  products, softmax, cross-entropy")
    v = np.array([1.0, 2.0, 3.0])
    vs = sg.symbols("v", shape=(3,))
    dot = sg.compile(vs @ vs, inputs=[vs])
    outer = sg.compile(np.outer(vs, vs), inputs=[vs])
    print("N11 v.v =", dot(v), "  N12 outer =\n", outer(v))
    soft = sg.compile(lambda y: sg.softmax(y), shapes={"y": (3,)})
    print("N13 softmax(2, 1, 0.1) =", np.round(soft(np.array([2.0, 1.0, 0.1])), 3))
    onehot = np.array([1.0, 0.0, 0.0])
    ce = sg.compile(lambda p: -sg.sum(onehot * sg.log(p)), shapes={"p": (3,)})
    print(
        "N14 cross-entropy:",
        round(float(ce(np.array([0.7, 0.2, 0.1]))), 3),
        round(float(ce(np.array([0.1, 0.3, 0.6]))), 3),
    )
    g = sg.grad(lambda z: -sg.sum(onehot * sg.log_softmax(z)), shapes={"z": (3,)})
    z0 = np.array([0.5, -1.0, 2.0])
    print("N15 d CE / d logits =", g(z0), "= softmax - Y =", soft(z0) - onehot)


def n16_to_n19() -> None:
    section("N16-N19  Jacobians, strides, frozen parameters, higher orders")
    J = sg.jacobian(lambda x: sg.exp(x) * 2, shapes={"x": (3,)})
    print("N16 Jacobian of an elementwise map is diagonal:\n", J.outputs)
    M = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = sg.compile(lambda a, b: a * b + 1)
    print("N17 a view (M[1, :], strides", M.strides, ") gives", f(M[1, :], M[:, 0]))
    grad_wb = sg.grad(lambda w, b, x: (w * x + b) ** 2, argnums=(0, 1))
    print("N18 grad wrt (w, b) with x frozen:", grad_wb.outputs, "at (1, 0.5, 2):", grad_wb(1.0, 0.5, 2.0))
    x = sg.symbols("x")
    print(
        "N19 d2(3x^2+15)/dx2 =",
        sg.diff(3 * x**2 + 15, x, 2),
        "  d3 N3/dx3 =",
        sg.diff((x - 3) * (x - 6) * (x - 4), x, 3),
    )
    g = sg.exp(sg.sin(x)) * x**2 / (1 + x**2)
    d8 = sg.diff(g, x, 8)
    print("    8th derivative of exp(sin(x))*x**2/(1+x**2):", sg.operation_count([d8]), "operations after sharing")


def hessian_and_batch() -> None:
    section("A Hessian, and a batched evaluation")

    def f(x, y, z):
        return sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)

    H = sg.hessian(f, argnums=(0, 1, 2))
    print("Hessian at (1, 2, 0.5):\n", np.array(H(1.0, 2.0, 0.5)))
    vg = sg.value_and_grad(f, argnums=(0, 1, 2))
    pts = np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 1_000_000))
    start = time.perf_counter()
    value, _ = vg(*pts)
    elapsed = time.perf_counter() - start
    print(f"value and gradient at {pts.shape[1]:,} points in {elapsed * 1e3:.0f} ms; value[:3] = {value[:3]}")


if __name__ == "__main__":
    n1_graph()
    n2_vectors()
    n3_to_n7_scalars()
    n8_n10_losses()
    n11_n15_vectors()
    n16_to_n19()
    hessian_and_batch()
