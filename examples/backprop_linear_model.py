"""Chain rule and backpropagation on a linear model (notes N4, N9), then gradient descent.

Run:  python examples/backprop_linear_model.py

The notes teach backpropagation as forward pass -> local gradients -> backward
pass by the chain rule.  symgrad does the same on its graph and hands back the
gradient as a formula and as a compiled kernel; here it trains a linear
regression on generated data.  Every number is checked against a hand
computation or numpy, so a wrong result makes the script fail.
"""

from __future__ import annotations

import itertools

import numpy as np

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def n4_chain_rule() -> None:
    section("N4  chain rule: y = x**3, z = 5*y")
    x, y = sg.symbols("x y")
    dz_dy = sg.diff(5 * y, y)  # local gradient of the Mul node
    dy_dx = sg.diff(x**3, x)  # local gradient of the Pow node
    dz_dx = sg.diff(5 * x**3, x)  # symgrad's backward pass through both
    at2 = sg.compile(dz_dx, inputs=[x])(2.0)
    print(f"dz/dy = {dz_dy}, dy/dx = {dy_dx}, so dz/dx = dz/dy * dy/dx = {dz_dx}; at x = 2: {at2}")
    assert at2 == 5 * 3 * 2.0**2 == 60.0
    assert dz_dx is dz_dy * dy_dx  # the same hash-consed node: the chain rule, literally


def n9_one_step() -> None:
    section("N9  linear model y_hat = w*x, loss = (y_hat - y)**2")
    w, x, y = sg.symbols("w x y")
    y_hat = w * x
    s = y_hat - y
    loss = s**2
    dloss = sg.diff(loss, w)
    step = sg.compile([y_hat, s, loss, dloss], inputs=[w, x, y])
    yh, sv, lv, gw = step(1.0, 1.0, 2.0)
    print("dloss/dw =", dloss)
    print(f"forward at x=1, y=2, w=1: y_hat = {yh}, s = {sv}, loss = {lv}")
    print(f"backward: dloss/ds = 2s = {2 * sv}, dloss/dy_hat = {2 * sv}, dloss/dw = 2s * x = {gw}")
    assert (yh, sv, lv, gw) == (1.0, -1.0, 1.0, -2.0)
    alpha = 0.1
    w_new = 1.0 - alpha * gw
    loss_new = step(w_new, 1.0, 2.0)[2]
    print(f"one gradient-descent step, alpha = {alpha}: w = 1 - {alpha}*({gw}) = {w_new}; loss {lv} -> {loss_new:.4f}")
    assert w_new == 1.2 and loss_new < lv


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """y = 3x - 2 plus a little noise."""
    x = rng.uniform(-1.0, 1.0, size=n)
    return x, 3.0 * x - 2.0 + rng.normal(0.0, 0.1, size=n)


def linear_regression() -> None:
    section("Gradient descent on a linear regression (generated data, seeded)")
    rng = np.random.default_rng(0)
    xs, ys = make_data(200, rng)

    def squared_error(w, b, x, y):
        return (w * x + b - y) ** 2

    # x and y are given as arrays without declared shapes: a batch of scalars, so one fused
    # kernel gives every point's error and gradient; the mean of those is the loss's gradient.
    value_and_grad = sg.value_and_grad(squared_error, argnums=(0, 1))
    params = np.array([0.0, 0.0])
    losses = []
    for epoch in range(80):
        errors, (gws, gbs) = value_and_grad(params[0], params[1], xs, ys)
        loss, gw, gb = float(np.mean(errors)), float(np.mean(gws)), float(np.mean(gbs))
        losses.append(loss)
        expect = 2 * np.mean((params[0] * xs + params[1] - ys) * np.stack([xs, np.ones_like(xs)]), axis=1)
        np.testing.assert_allclose([gw, gb], expect, rtol=1e-12, atol=1e-12)
        params = params - 0.2 * np.array([gw, gb])
        if epoch % 10 == 0 or epoch == 79:
            print(f"epoch {epoch:2}: loss {loss:.5f}   w {params[0]:+.4f}   b {params[1]:+.4f}")
    best = np.polyfit(xs, ys, 1)
    print(f"final: loss {losses[-1]:.5f}, w = {params[0]:.4f}, b = {params[1]:.4f}; least squares: {best.round(4)}")
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(losses)), "loss must go down"
    assert losses[-1] < 0.02 < losses[0]
    np.testing.assert_allclose(params, best, atol=1e-3)  # near the least-squares fit


def pytree_training_step():
    """The parameters as one dict, JAX-style: the gradient comes back as a dict like them."""
    print("\n== One SGD step with the parameters in a dict (a pytree) ============")
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(64, 3))
    ys = xs @ np.array([1.0, -2.0, 0.5]) + 0.3

    def loss(params, x, y):
        return sg.mean((x @ params["w"] + params["b"] - y) ** 2)

    grad = sg.grad(loss, shapes={"params": {"w": (3,), "b": None}, "x": (64, 3), "y": (64,)})
    value = sg.compile(loss, shapes={"params": {"w": (3,), "b": None}, "x": (64, 3), "y": (64,)})
    params = {"w": np.zeros(3), "b": 0.0}
    g = grad(params, xs, ys)
    residual = xs @ params["w"] + params["b"] - ys
    np.testing.assert_allclose(g["w"], 2 * xs.T @ residual / 64, rtol=1e-12)
    np.testing.assert_allclose(g["b"], 2 * residual.mean(), rtol=1e-12)
    stepped = {k: params[k] - 0.1 * g[k] for k in params}
    before, after = value(params, xs, ys), value(stepped, xs, ys)
    print(f"gradient keys {sorted(g)}; loss {before:.4f} -> {after:.4f} after one step")
    assert after < before


if __name__ == "__main__":
    n4_chain_rule()
    n9_one_step()
    linear_regression()
    pytree_training_step()
    print("\nall checks passed")
