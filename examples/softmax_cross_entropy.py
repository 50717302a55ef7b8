"""Softmax, cross-entropy and the gradient of their composition (notes N13, N14, N15).

Run:  python examples/softmax_cross_entropy.py

A "CrossEntropyLoss" is log-softmax followed by the negative log-likelihood, so
no separate softmax layer is needed; its gradient with respect to the logits is
softmax(z) - Y.  symgrad derives that formula from the graph; the script checks
it against numpy and finite differences, so a wrong result makes it fail.
"""

from __future__ import annotations

import numpy as np

import symgrad as sg


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def n13_softmax() -> None:
    section("N13  softmax S(y)_i = exp(y_i) / sum_j exp(y_j)")
    y = sg.symbols("y", shape=(3,))
    s = sg.softmax(y)
    print("S(y)_0 =", sg.simplify(s[0]))
    value = sg.compile(s, inputs=[y])(np.array([2.0, 1.0, 0.1]))
    print("softmax(2.0, 1.0, 0.1) =", value.round(3), "  sums to", value.sum())
    np.testing.assert_allclose(value, np_softmax(np.array([2.0, 1.0, 0.1])), rtol=1e-14)
    np.testing.assert_allclose(value.round(3), [0.659, 0.242, 0.099])


def n14_cross_entropy() -> None:
    section("N14  cross-entropy D(Y_hat, Y) = -sum_i Y_i log Y_hat_i")
    onehot = np.array([1.0, 0.0, 0.0])
    ce = sg.compile(lambda p: -sg.sum(onehot * sg.log(p)), shapes={"p": (3,)})
    good, bad = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    d_good, d_bad = float(ce(good)), float(ce(bad))
    print(f"Y = {onehot}: good prediction {good} -> {d_good:.3f}; bad one {bad} -> {d_bad:.3f}")
    assert np.isclose(d_good, -np.log(0.7)) and np.isclose(d_bad, -np.log(0.1))
    assert (round(d_good, 3), round(d_bad, 3)) == (0.357, 2.303)


def n15_gradient() -> None:
    section("N15  d CrossEntropy(log_softmax(z), Y) / dz = softmax(z) - Y")
    z = sg.symbols("z", shape=(3,))
    onehot = np.array([0.0, 1.0, 0.0])
    loss = -sg.sum(onehot * sg.log_softmax(z))
    grad = sg.gradient(loss, z)
    print("loss =", sg.simplify(loss), " (computed as log_softmax: shifted by max(z), stable)")
    for i, g in enumerate(grad):
        print(f"  dloss/dz[{i}] = {sg.simplify(g)}")
    rng = np.random.default_rng(1)
    f = sg.compile(loss, inputs=[z])
    df = sg.compile(grad, inputs=[z])
    for _ in range(3):
        z0 = rng.normal(size=3) * 3
        got, expect = df(z0), np_softmax(z0) - onehot
        fd = np.array([(f(z0 + h) - f(z0 - h)) / 2e-6 for h in np.eye(3) * 1e-6])
        print(f"  at z = {z0.round(3)}: gradient {got.round(6)}; softmax - Y = {expect.round(6)}")
        np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got, fd, atol=1e-6)
    big = np.array([1000.0, 0.0, -1000.0])
    print("  stable for large logits too:", df(big), "(log_softmax never forms exp(1000))")
    np.testing.assert_allclose(df(big), np_softmax(big) - onehot, atol=1e-15)


if __name__ == "__main__":
    n13_softmax()
    n14_cross_entropy()
    n15_gradient()
    print("\nall checks passed")
