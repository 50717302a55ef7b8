"""Linear regression by gradient descent, with the loss averaged over a dataset in one compiled pass.

The notes' linear model (N9, N10) on generated data: ``y = x . w_true + b_true + noise``.
``sg.value_and_grad(loss, data=("x", "y"), reduce="mean")`` gives the mean squared
error and its gradient with respect to (w, b) from ONE fused pass over the samples --
no N x 4 array of per-sample gradients is ever built -- and its formula is the
textbook one, a mean over the samples.

Run: python examples/linear_regression.py
"""

from __future__ import annotations

import numpy as np

import symgrad as sg

D = 3
N = 20_000
W_TRUE = np.array([2.0, -1.0, 0.5])
B_TRUE = 0.7
NOISE = 0.1
STEPS = 60
LEARNING_RATE = 0.1
FACTOR = 100  # the loss must fall by more than this


def loss(w, b, x, y):
    """The squared error of one sample: x has shape (D,), y is a number."""
    return (x @ w + b - y) ** 2


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    Y = X @ W_TRUE + B_TRUE + NOISE * rng.normal(size=N)

    L = sg.compile(loss, shapes={"w": (D,), "x": (D,)}, data=("x", "y"), reduce="mean")
    G = sg.grad(L, argnums=(0, 1))  # keeps data= and reduce=: the gradient of the MEAN loss
    print("the mean squared error:", L.formula)
    print("its gradient (dL/dw, dL/db), a reduction over the samples:")
    print(G.formula)

    step = sg.value_and_grad(L, argnums=(0, 1))  # the loss and the gradient from the same pass
    w, b = np.zeros(D), 0.0
    first = L(w, b, X, Y)
    print(f"\n{'step':>5} {'mean loss':>12}   w, b")
    for k in range(STEPS + 1):
        value, (gw, gb) = step(w, b, X, Y)
        if k % 10 == 0:
            print(f"{k:5d} {value:12.6f}   {np.round(w, 4)}, {b:.4f}")
        if k < STEPS:
            w, b = w - LEARNING_RATE * gw, b - LEARNING_RATE * gb
    final = L(w, b, X, Y)

    # the same numbers without symgrad: the textbook gradient, and least squares
    residual = X @ w + b - Y
    assert np.isclose(final, np.mean(residual**2), rtol=1e-12)
    np.testing.assert_allclose(G(w, b, X, Y)[0], 2 * X.T @ residual / N, rtol=1e-9, atol=1e-12)
    A = np.column_stack([X, np.ones(N)])
    best = np.linalg.lstsq(A, Y, rcond=None)[0]
    print(f"\nloss {first:.4f} -> {final:.6f}: fell by a factor of {first / final:.0f} (more than {FACTOR})")
    print(f"w = {np.round(w, 3)} (generated with {W_TRUE}), b = {b:.3f} (generated with {B_TRUE})")
    print(f"least squares: w = {np.round(best[:D], 3)}, b = {best[D]:.3f}")
    assert first / final > FACTOR
    np.testing.assert_allclose(w, W_TRUE, atol=0.01)
    assert abs(b - B_TRUE) < 0.01
    np.testing.assert_allclose(np.append(w, b), best, atol=1e-4)
    print("all checks passed")


if __name__ == "__main__":
    main()
