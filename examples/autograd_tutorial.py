"""The autograd tutorial of the course notes (N1, N2), redone with symgrad.

Run:  python examples/autograd_tutorial.py

PyTorch builds a graph while it computes: each result remembers its backward
function (``AddBackward``, ``MulBackward``) and the tensors it came from, and
``backward()`` walks that graph.  symgrad builds the same graph from a formula
and turns it into derivative *formulas*.  A vector result needs an outside
gradient (``Q.backward(gradient=ones)``): that is a vector-Jacobian product,
``sg.vjp``.  Writing your own differentiable function with its own backward
rule (PyTorch's ``torch.autograd.Function``) is ``sg.custom_function`` with
``defderiv``.  Every number printed is also checked against a hand computation,
so a wrong result makes the script fail.
"""

from __future__ import annotations

import numpy as np

import symgrad as sg
from symgrad.graph import graph


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def show(pic) -> None:
    for node in pic.nodes:
        print(f"  {node.id:4} {node.kind:6} {node.role:6} {node.label.replace(chr(10), ' / ')}")


def n1_the_graph() -> None:
    section("N1  z = x + y, w = 2*z: the computational graph")
    x, y = sg.symbols("x y")
    z = x + y
    w = 2 * z
    print("w =", w, "  (symgrad's builder multiplies the 2 in: one Add over two Muls)")
    pic = graph(w)
    show(pic)
    print(f"{len(pic.nodes)} nodes, {len(pic.edges)} edges; DOT text: {len(pic.to_dot())} characters")
    dw_dx, dw_dy = sg.diff(w, x), sg.diff(w, y)
    w_at = sg.compile(w, inputs=[x, y])(2.0, 3.0)
    print(f"at x=2, y=3: z = 5, w = {w_at};  dw/dx = {dw_dx}, dw/dy = {dw_dy}")
    assert w_at == 2 * (2.0 + 3.0)
    assert dw_dx == 2 and dw_dy == 2
    assert [n.label.split(chr(10))[-1] for n in pic.nodes if n.kind == "op"].count("MulBackward") == 2


def backward_reuses_forward() -> None:
    section("The backward graph reuses the forward one (N3: y = (x-3)*(x-6)*(x-4))")
    x = sg.symbols("x")
    y = (x - 3) * (x - 6) * (x - 4)
    pic = graph(y, grad=True)
    show(pic)
    shared = [n.label for n in pic.nodes if n.role == "shared" and n.kind == "op"]
    print("forward nodes the derivative reuses:", len(shared), "ops, e.g. the factors x - 3, x - 4, x - 6")
    dy = sg.diff(y, x)
    at1 = sg.compile([y, dy], inputs=[x])(1.0)
    print("dy/dx =", dy, "; at x = 1: y, dy/dx =", at1)
    assert at1 == ((1 - 3) * (1 - 6) * (1 - 4), 3 * 1**2 - 26 * 1 + 54)  # (-30, 31), as the notes have it
    assert len(shared) >= 3


def n2_outside_gradient() -> None:
    section("N2  Q = 3*a**3 - b**2 on vectors: backward needs an outside gradient")
    a, b = sg.symbols("a b")
    Q = 3 * a**3 - b**2
    print("dQ/da =", sg.diff(Q, a), "   dQ/db =", sg.diff(Q, b))

    def q(a, b):
        return 3 * a**3 - b**2

    av, bv = np.array([2.0, 3.0]), np.array([6.0, 4.0])
    value, backward = sg.vjp(q, av, bv, shapes={"a": (2,), "b": (2,)})
    ga, gb = backward(np.ones(2))
    print("Q(a, b) =", value)
    print("Q.backward(gradient=ones):  a.grad =", ga, "  b.grad =", gb)
    np.testing.assert_allclose(value, 3 * av**3 - bv**2)
    np.testing.assert_allclose(value, [-12.0, 65.0])
    np.testing.assert_allclose(ga, 9 * av**2)  # (36, 81)
    np.testing.assert_allclose(gb, -2 * bv)  # (-12, -8)

    weights = np.array([0.5, -1.0])
    ga_w, gb_w = backward(weights)
    print("with the outside gradient (0.5, -1):  a.grad =", ga_w, "  b.grad =", gb_w)
    np.testing.assert_allclose(ga_w, weights * 9 * av**2)
    np.testing.assert_allclose(gb_w, weights * -2 * bv)

    J = sg.jacobian(q, argnums=(0, 1), shapes={"a": (2,), "b": (2,)})
    Ja, Jb = J(av, bv)
    print("the Jacobians behind it (diagonal: Q is elementwise):\n", Ja, "\n", Jb)
    np.testing.assert_allclose(ga, np.ones(2) @ Ja)
    np.testing.assert_allclose(gb, np.ones(2) @ Jb)


def no_grad_for_a_vector_output() -> None:
    section("Why the outside gradient: grad of a vector output is refused")

    def q(a):
        return 3 * a**3

    try:
        sg.grad(q, shapes={"a": (2,)})
    except sg.DiffError as err:
        print("sg.grad ->", type(err).__name__ + ":", str(err).split(". ")[0] + ".")
    else:
        raise AssertionError("grad of a vector output should be refused")


def own_differentiable_function() -> None:
    section("Your own differentiable function (torch.autograd.Function)")
    # PyTorch:  class Softplus(torch.autograd.Function): forward(ctx, x) saves x and returns log1p(exp(x)),
    #           backward(ctx, g) returns g * sigmoid(x).  symgrad: the body, and the rule as an expression.

    @sg.custom_function
    def softplus(x):
        return sg.log1p(sg.exp(x))

    @softplus.defderiv
    def _(x):  # one partial per argument (a tuple for several)
        return sg.sigmoid(x)

    x = sg.symbols("x")
    y = 2 * softplus(x) ** 2
    print("y =", y, "   dy/dx =", sg.diff(y, x))
    d1, d2 = sg.diff(softplus(x), x), sg.diff(softplus(x), x, 2)
    print("d softplus/dx =", d1, "   d2/dx2 =", d2, "(the rule, differentiated)")
    labels = [n.label.split(chr(10))[-1] for n in graph(y).nodes if n.kind == "op"]
    print("its node in the graph:", [name for name in labels if "Softplus" in name])
    g = sg.grad(lambda x: 2 * softplus(x) ** 2, verify=True)  # verify: the rule agrees with the body's slope
    at = 0.5
    sp_at, s_at = np.log1p(np.exp(at)), 1 / (1 + np.exp(-at))
    print(f"at x = {at}: dy/dx = {g(at):.6f} (4*softplus*sigmoid = {4 * sp_at * s_at:.6f})")
    np.testing.assert_allclose(g(at), 4 * sp_at * s_at, rtol=1e-14)
    assert str(d1) == "sigmoid(x)"
    assert "SoftplusBackward" in labels
    assert "softplus" not in g.source  # the generated code computes the body: log1p(exp(x))


if __name__ == "__main__":
    n1_the_graph()
    backward_reuses_forward()
    n2_outside_gradient()
    no_grad_for_a_vector_output()
    own_differentiable_function()
    print("\nall checks passed")
