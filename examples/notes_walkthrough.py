"""Walk through the course notes' worked examples (N1-N19) with symgrad, end to end.

Run:  python examples/notes_walkthrough.py

Each section prints the formula symgrad derives and the numbers at the notes'
point.  Where the notes slipped (N2', N8', N10) it says so: symgrad's checker
is given the notes' claim, reports it wrong, says how it differs, and the right
value is shown.  It ends with a Hessian and a batched evaluation over a million
points.  Every number printed is also checked against a value worked out by
hand (written out below, never taken from symgrad), so a wrong result makes the
script fail; it ends with "all checks passed".
"""

from __future__ import annotations

import math
import time

import numpy as np

import symgrad as sg
from symgrad.graph import graph


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def fmt(value) -> str:
    """A number as the notes write it (18, 0.5, 5.333333), an array or tuple as (a, b, ...)."""
    if isinstance(value, (tuple, list)) or np.ndim(value) > 0:
        return "(" + ", ".join(fmt(v) for v in (value if isinstance(value, (tuple, list)) else list(value))) + ")"
    return f"{float(value):.7g}"


def matrix(rows) -> str:
    """A matrix as [[a, b], [c, d]], numbers as fmt writes them."""
    return "[" + ", ".join("[" + ", ".join(fmt(v) for v in row) + "]" for row in np.asarray(rows)) + "]"


def expect(got, want, rtol: float = 1e-12, atol: float = 1e-12):
    """Insist that symgrad's number equals the hand-derived one; return it for printing."""
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)
    return got


def slip(what: str, report, right_text: str) -> None:
    """The notes' slip as symgrad's checker sees it: the verdict, the right derivative, why they differ."""
    assert not report, f"the checker should call the notes' {what} wrong"
    print(f"  SLIP in the notes: {what}")
    for c in report.components:
        print(f"    {c.name}: the notes claim {c.claimed_text}, the derivative is {c.correct_text}")
        for line in c.diagnosis:
            print(f"      - {line}")
        if c.point:
            at = ", ".join(f"{k} = {fmt(v)}" for k, v in c.point.items())
            print(f"      at {at}: right {fmt(c.correct_value)}, the notes' {fmt(c.claimed_value)}")
    print(f"  right: {right_text}")


def backward_graph(expr) -> str:
    """The backward pass as autograd links it, grad_fn(next_functions...): AddBackward0(AccumulateGrad x, ...)."""
    pic = graph(expr, grad=True, style="autograd")
    labels = {n.id: n.label.replace("\n", " ") for n in pic.nodes}
    nexts: dict[str, list[str]] = {n.id: [] for n in pic.nodes}
    for e in pic.edges:
        nexts[e.source].append(e.target)

    def text(node_id: str) -> str:
        inner = ", ".join(sorted(text(t) for t in nexts[node_id]))
        return labels[node_id] + (f"({inner})" if inner else "")

    return text(pic.nodes[0].id)


def n1_graph() -> None:
    section("N1  z = x + y, w = 2*z")
    x, y = sg.symbols("x y")
    z = x + y
    w = 2 * z
    zv, wv = sg.compile((z, w), inputs=[x, y])(2.0, 3.0)
    print(f"at x = 2, y = 3:  z = {fmt(expect(zv, 5))}, w = {fmt(expect(wv, 10))}")
    dx, dy = sg.diff(w, x), sg.diff(w, y)
    assert dx == 2 and dy == 2
    print(f"dw/dx = {dx}, dw/dy = {dy}")
    z_graph, w_graph = backward_graph(z), backward_graph(w)
    print("z.grad_fn:", z_graph)
    print("w.grad_fn:", w_graph)
    print("  (in the notes the graph is Add (z), then Mul (w); symgrad multiplies the 2 in, w = 2*x + 2*y,")
    print("   so its graph is one Add over two Muls: another graph, the same derivatives)")
    assert z_graph == "AddBackward0(AccumulateGrad x, AccumulateGrad y)"
    assert w_graph.startswith("AddBackward0(MulBackward0(") and w_graph.count("MulBackward0") == 2


def n2_vectors() -> None:
    section("N2  Q = 3*a**3 - b**2 on vectors a = (2, 3), b = (6, 4)")
    a, b = sg.symbols("a b")
    Q = 3 * a**3 - b**2
    da, db = sg.diff(Q, a), sg.diff(Q, b)
    assert str(da) == "9*a**2" and str(db) == "-2*b"
    print(f"dQ/da = {da}   dQ/db = {db}   (elementwise)")

    def q(a, b):
        return 3 * a**3 - b**2

    av, bv = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    value, backward = sg.vjp(q, av, bv, shapes={"a": (2,), "b": (2,)})
    print(f"Q = {fmt(expect(value, [3 * 8 - 36, 3 * 27 - 16]))}")  # (-12, 65)
    ga, gb = backward(np.ones(2))
    print("Q is a vector: backward needs an outside gradient, Q.backward(gradient=ones), a vector-Jacobian product:")
    print(f"  a.grad = {fmt(expect(ga, [9 * 4, 9 * 9]))}   b.grad = {fmt(expect(gb, [-12, -8]))}")


def n2_slip() -> None:
    section("N2' the notes write Q = 3*a**3 * b**2 and keep 9*a**2, -2*b")
    a, b = sg.symbols("a b")
    P = 3 * a**3 * b**2
    print(f"dQ/da = {sg.diff(P, a)}   dQ/db = {sg.diff(P, b)}")
    at = {"a": np.array([2.0, 3.0]), "b": np.array([6.0, 4.0])}
    report = sg.check(lambda a, b: 3 * a**3 * b**2, {"a": 9 * a**2, "b": -2 * b}, at=at, name="Q")
    slip("9*a**2 and -2*b for the product 3*a**3*b**2", report, "dQ/da = 9*a**2*b**2, dQ/db = 6*a**3*b")
    ga, gb = report.components[0].correct_value, report.components[1].correct_value
    expect(ga, [9 * 4 * 36, 9 * 9 * 16])  # (1296, 1296)
    expect(gb, [6 * 8 * 6, 6 * 27 * 4])  # (288, 648)
    assert sg.check(3 * a**3 - b**2, {"a": 9 * a**2, "b": -2 * b}), "the claims are right for 3*a**3 - b**2"
    print("  (9*a**2 and -2*b are right for Q = 3*a**3 - b**2, as in N2)")


def n3_to_n5_scalars() -> None:
    section("N3-N5  one-variable derivatives")
    x = sg.symbols("x")
    y3 = (x - 3) * (x - 6) * (x - 4)
    d3 = sg.diff(y3, x)
    v3, g3 = sg.compile((y3, d3), inputs=[x])(1.0)
    print(f"N3  y = {y3}")
    print(f"    dy/dx = {d3}  (the product rule)")
    print(f"          = {sg.simplify(d3)}")
    print(f"    at x = 1: y = {fmt(expect(v3, (-2) * (-5) * (-3)))}, dy/dx = {fmt(expect(g3, 3 - 26 + 54))}")

    Y = sg.symbols("y")
    dz_dy = sg.diff(5 * Y, Y)
    dy_dx = sg.diff(x**3, x)
    dz_dx = sg.diff(5 * x**3, x)
    assert dz_dy == 5 and str(dy_dx) == "3*x**2" and str(dz_dx) == "15*x**2"
    at2 = sg.compile(dy_dx, inputs=[x])(2.0)
    chain = sg.grad(lambda x: 5 * x**3)(2.0)
    print(f"N4  y = x**3, z = 5*y:  dz/dy = {dz_dy}, dy/dx = {dy_dx} = {fmt(expect(at2, 12))} at x = 2,")
    print(f"    chain rule: dz/dx = dz/dy * dy/dx = {dz_dx} = {fmt(expect(chain, 5 * 3 * 4))}")

    d5 = sg.diff(3 * x**2 + 15, x)
    assert str(d5) == "6*x"
    print(f"N5  y = 3*x**2 + 15:  dy/dx = {d5} = {fmt(expect(sg.grad(lambda x: 3 * x**2 + 15)(3.0), 18))} at x = 3")


def n6_n7_partials() -> None:
    section("N6-N7  partial derivatives, a Hessian")

    def n6(x1, x2):
        return x1**3 + x2**2 + 4 * x1 * x2 + 5

    g = sg.grad(n6, argnums=(0, 1))
    print(f"N6  dy/dx1, dy/dx2 = {', '.join(map(str, g.outputs))}")
    print(f"    at (3, 4): {fmt(expect(g(3.0, 4.0), [27 + 16, 8 + 12]))}")
    H = sg.hessian(n6, argnums=(0, 1))
    print(f"    Hessian = [[{'], ['.join(', '.join(map(str, row)) for row in H.outputs)}]]")
    print(f"    at (3, 4): {matrix(expect(H(3.0, 4.0), [[18, 4], [4, 2]]))}")

    x, u, k, l_ = sg.symbols("x u k l")
    z = 3 * x**5 + 2 * u**2 * k * x + l_ * x + l_
    grads = sg.gradient(z, [x, u, k, l_])
    values = sg.compile(grads, inputs=[x, u, k, l_])(2.0, 4.0, 3.0, 1.0)
    print("N7  z = 3*x**5 + 2*u**2*k*x + l*x + l")
    by_hand = [15 * 16 + 2 * 16 * 3 + 1, 4 * 4 * 3 * 2, 2 * 16 * 2, 2 + 1]  # 337, 96, 64, 3
    for name, formula, value, want in zip("xukl", grads, values, by_hand):
        print(f"    dz/d{name} = {formula} = {fmt(expect(value, want))} at x=2, u=4, k=3, l=1")


def n8_mean_and_slip() -> None:
    section("N8  y = x + 2, z = 2*y**2, L = mean(z) at x = (1, 2); the slip N8'")
    x0 = np.array([1.0, 2.0])
    y0 = sg.compile(lambda x: x + 2, shapes={"x": (2,)})(x0)
    z0 = sg.compile(lambda y: 2 * y**2, shapes={"y": (2,)})(y0)
    L0 = sg.compile(lambda z: sg.mean(z), shapes={"z": (2,)})(z0)
    print(f"y = {fmt(expect(y0, [3, 4]))}, z = {fmt(expect(z0, [18, 32]))}, L = mean(z) = {fmt(expect(L0, 25))}")
    dl_dz = sg.grad(lambda z: sg.mean(z), shapes={"z": (2,)})(z0)
    Y = sg.symbols("y")
    dz_dy = sg.diff(2 * Y**2, Y)
    assert str(dz_dy) == "4*y"

    def loss_mean(x):
        return sg.mean(2 * (x + 2) ** 2)

    dl_dx = sg.grad(loss_mean, shapes={"x": (2,)})(x0)
    print(f"dL/dz = {fmt(expect(dl_dz, [0.5, 0.5]))}, dz/dy = {dz_dy}:  dL/dx = 4*y/2 = {fmt(expect(dl_dx, [6, 8]))}")

    def loss_third(x):
        z = 2 * (x + 2) ** 2
        return (z[0] + z[1]) / 3

    dl_dz3 = sg.grad(lambda z: (z[0] + z[1]) / 3, shapes={"z": (2,)})(z0)
    print(f"N8' the notes write L = (z1 + z2)/3, dL/dz = {fmt(expect(dl_dz3, [1 / 3, 1 / 3]))}, and conclude (6, 8):")
    report = sg.check(loss_third, np.array([6.0, 8.0]), wrt="x", at={"x": x0}, name="L")
    slip("dL/dx = (6, 8) for L = (z1 + z2)/3", report, "with /3, dL/dx = 4*y/3 = (4, 5.333333); (6, 8) needs the mean")
    expect(report.components[0].correct_value, [4, 16 / 3])


def n9_n10_linear_model() -> None:
    section("N9  y_hat = w*x, s = y_hat - y, loss = s**2 at x = 1, y = 2, w = 1")
    w, x, y, s, yh = sg.symbols("w x y s y_hat")
    forward = sg.compile((w * x, w * x - y, (w * x - y) ** 2), inputs=[w, x, y])(1.0, 1.0, 2.0)
    print(f"forward:  y_hat = {fmt(forward[0])}, s = {fmt(forward[1])}, loss = {fmt(forward[2])}")
    expect(forward, [1, -1, 1])
    dloss_ds = sg.diff(s**2, s)
    ds_dyh = sg.diff(yh - y, yh)
    dyh_dw = sg.diff(w * x, w)
    assert str(dloss_ds) == "2*s" and ds_dyh == 1 and str(dyh_dw) == "x"
    at_s = sg.compile(dloss_ds, inputs=[s])(-1.0)
    print(f"backward: dloss/ds = {dloss_ds} = {fmt(expect(at_s, -2))}, ds/dy_hat = {ds_dyh}, dy_hat/dw = {dyh_dw}")
    loss = (w * x - y) ** 2
    grad_w = sg.compile(sg.diff(loss, w), inputs=[w, x, y])(1.0, 1.0, 2.0)
    dloss_dyh = sg.compile(sg.diff((yh - y) ** 2, yh), inputs=[yh, y])(1.0, 2.0)
    print(
        f"          dloss/dy_hat = {fmt(expect(dloss_dyh, -2))}, dloss/dw = {sg.diff(loss, w)} = {fmt(expect(grad_w, -2))}"
    )
    alpha = 0.1
    step = expect(1.0 - alpha * grad_w, 1.2)
    print(f"one gradient-descent step, rate {alpha}: w <- w - {alpha}*({fmt(grad_w)}) = {fmt(step)}")

    section("N10 L = (y - (W*x + b))**2: the notes write dL/dW = 2*(y - (W*x + b))*W*x")
    W, b = sg.symbols("W b")
    L = (y - (W * x + b)) ** 2
    dW, db = sg.simplify(sg.diff(L, W)), sg.simplify(sg.diff(L, b))
    print(f"dL/dW = {dW}   dL/db = {db}")
    at = {"W": 3.0, "b": 0.5, "x": 2.0, "y": 1.0}  # y - (W*x + b) = -5.5
    report = sg.check(L, 2 * (y - (W * x + b)) * W * x, wrt=W, at=at, name="L")
    slip(
        "dL/dW = 2*(y - (W*x + b))*W*x",
        report,
        "dL/dW = -2*(y - (W*x + b))*x, dL/db = -2*(y - (W*x + b)) (the inner derivative is -x, not W*x)",
    )
    expect(report.components[0].correct_value, -2 * -5.5 * 2)  # 22
    expect(report.components[0].claimed_value, 2 * -5.5 * 3 * 2)  # -66
    assert sg.check(L, {"W": -2 * (y - (W * x + b)) * x, "b": -2 * (y - (W * x + b))})


def np_softmax(v):
    e = np.exp(v - np.max(v))
    return e / e.sum()


def n11_n15_vectors() -> None:
    section("N11-N15  products, softmax, cross-entropy")
    v = np.array([1.0, 2.0, 3.0])
    vs = sg.symbols("v", shape=(3,))
    print(f"N11 v.v = {fmt(expect(sg.compile(vs @ vs, inputs=[vs])(v), 1 + 4 + 9))}")
    outer = sg.compile(np.outer(vs, vs), inputs=[vs])(v)
    print(f"N12 v v^T = {matrix(expect(outer, [[1, 2, 3], [2, 4, 6], [3, 6, 9]]))}")

    soft = sg.compile(lambda y: sg.softmax(y), shapes={"y": (3,)})
    y0 = np.array([2.0, 1.0, 0.1])
    e = [math.exp(2.0), math.exp(1.0), math.exp(0.1)]
    print(f"N13 softmax(2, 1, 0.1) = {fmt(np.round(expect(soft(y0), [t / sum(e) for t in e]), 3))}")
    expect(np.round(soft(y0), 3), [0.659, 0.242, 0.099])

    onehot = np.array([1.0, 0.0, 0.0])
    ce = sg.compile(lambda p: -sg.sum(onehot * sg.log(p)), shapes={"p": (3,)})
    good, bad = ce(np.array([0.7, 0.2, 0.1])), ce(np.array([0.1, 0.3, 0.6]))
    expect([good, bad], [-math.log(0.7), -math.log(0.1)])
    print(f"N14 D(Y_hat, Y) with Y = (1, 0, 0): {good:.3f} for (0.7, 0.2, 0.1), {bad:.3f} for (0.1, 0.3, 0.6)")

    def ce_logits(z):  # CrossEntropyLoss: log-softmax, then the negative log-likelihood, on logits
        return -sg.sum(onehot * sg.log_softmax(z))

    g = sg.grad(ce_logits, shapes={"z": (3,)})
    z0 = np.array([0.5, -1.0, 2.0])
    print("N15 on the logits z, cross-entropy of softmax(z): the gradient is softmax(z) - Y")
    print(f"    at z = {fmt(z0)}: {fmt(expect(g(z0), np_softmax(z0) - onehot))}")
    dp = sg.grad(lambda p: -sg.sum(onehot * sg.log(p)), shapes={"p": (3,)})(np.array([0.7, 0.2, 0.1]))
    print(
        f"    (N14 on probabilities instead: dD/dY_hat = -Y/Y_hat = {fmt(expect(dp, [-1 / 0.7, 0, 0]))} at (0.7, 0.2, 0.1))"
    )


def n16_to_n19() -> None:
    section("N16-N19  Jacobians, strides, frozen parameters, higher orders")

    def f(x):  # R^2 -> R^3
        return np.array([x[0] * x[1], sg.sin(x[0]), x[1] ** 2])

    J = sg.jacobian(f, shapes={"x": (2,)})
    print("N16 y = (x0*x1, sin(x0), x1**2): its Jacobian is 3x2, row i = dy_i/dx:")
    print("   ", J.outputs.tolist())
    Jv = J(np.array([0.5, 2.0]))
    print(f"    at x = (0.5, 2): {matrix(expect(Jv, [[2, 0.5], [math.cos(0.5), 0], [0, 4]]))}")
    D = sg.jacobian(lambda x: sg.exp(x) * 2, shapes={"x": (3,)})
    print("    an elementwise map has a diagonal Jacobian:", D.outputs.tolist())
    assert all(D.outputs[i, j] == 0 for i in range(3) for j in range(3) if i != j)

    M = np.array([[1.0, 2.0], [3.0, 4.0]])
    strides = tuple(s // M.itemsize for s in M.strides)  # numpy counts bytes, PyTorch elements
    offset = 1 * strides[0] + 0 * strides[1]
    assert strides == (2, 1) and offset == 2 and M.ravel()[offset] == 3.0
    chw = tuple(s // 8 for s in np.zeros((3, 28, 28)).strides)
    assert chw == (28 * 28, 28, 1)
    print(f"N17 strides of a (3, 28, 28) tensor: {chw};  of [[1, 2], [3, 4]]: {strides},")
    print(f"    element [1, 0] at offset 1*2 + 0*1 = {offset}: {fmt(M.ravel()[offset])}")
    row = M[1, :]
    assert np.shares_memory(row, M)
    sq = sg.compile(lambda r: r**2 + 1)
    on_view = expect(sq(row), [10, 17])
    expect(on_view, sq(row.copy()))
    print(f"    M[1, :] is a view of M, not a copy; symgrad takes it as it is: r**2 + 1 = {fmt(on_view)}")

    grad_wb = sg.grad(lambda w, b, x: (w * x + b) ** 2, argnums=(0, 1))
    out = grad_wb(1.0, 0.5, 2.0)
    assert len(out) == 2
    print(f"N18 f = (w*x + b)**2, gradients for w and b only (x frozen): {', '.join(map(str, grad_wb.outputs))}")
    print(f"    at w = 1, b = 0.5, x = 2: {fmt(expect(out, [2 * 2.5 * 2, 2 * 2.5]))}; x gets none")

    x = sg.symbols("x")
    d2, d3 = sg.diff(3 * x**2 + 15, x, 2), sg.diff((x - 3) * (x - 6) * (x - 4), x, 3)
    assert d2 == 6 and d3 == 6
    print(f"N19 d2/dx2 of N5 = {d2};  d3/dx3 of N3 = {d3}")
    g = sg.exp(sg.sin(x)) * x**2 / (1 + x**2)
    d8 = sg.diff(g, x, 8)
    ops = sg.operation_count([d8])
    print(f"    the 8th derivative of exp(sin(x))*x**2/(1 + x**2) is {ops} operations after sharing")


def hessian_and_batch() -> None:
    section("A Hessian, and a batched evaluation")

    def f(x, y, z):
        return sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)

    def f_np(x, y, z):
        return np.sin(x * y) * np.exp(-(z**2)) + np.log(1 + x**2 + y**2) * np.tanh(z) + x * y * z / (1 + x**2)

    H = np.array(sg.hessian(f, argnums=(0, 1, 2))(1.0, 2.0, 0.5))
    print("f = sin(x*y)*exp(-z**2) + log(1 + x**2 + y**2)*tanh(z) + x*y*z/(1 + x**2)")
    print(f"its Hessian at (1, 2, 0.5): {matrix(H)}")
    expect(  # sympy's hessian of the same formula, evaluated at (1, 2, 1/2)
        H,
        [
            [-3.22995349, -1.84311128, 0.91034021],
            [-1.84311128, -0.7595079, 1.34839397],
            [0.91034021, 1.34839397, -2.01052339],
        ],
        rtol=0,
        atol=1e-8,
    )
    vg = sg.value_and_grad(f, argnums=(0, 1, 2))
    pts = np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 1_000_000))
    start = time.perf_counter()
    value, grads = vg(*pts)
    elapsed = time.perf_counter() - start
    expect(value, f_np(*pts), rtol=1e-12)
    h = 1e-6
    for i in range(3):  # the gradient at the first points, against central differences
        up, dn = pts[:, :5].copy(), pts[:, :5].copy()
        up[i] += h
        dn[i] -= h
        expect(grads[i][:5], (f_np(*up) - f_np(*dn)) / (2 * h), rtol=1e-7, atol=1e-8)
    print(f"value and gradient at {pts.shape[1]:,} points in {elapsed * 1e3:.0f} ms; value[:3] = {fmt(value[:3])}")


if __name__ == "__main__":
    n1_graph()
    n2_vectors()
    n2_slip()
    n3_to_n5_scalars()
    n6_n7_partials()
    n8_mean_and_slip()
    n9_n10_linear_model()
    n11_n15_vectors()
    n16_to_n19()
    hessian_and_batch()
    print("\nall checks passed")
