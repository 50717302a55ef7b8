"""A 3-class softmax classifier trained with mini-batches and epochs (the notes' N13-N15, averaged).

Generated data: three Gaussian clouds in the plane, one per class.  The model is
``z = W @ x + b`` (W: 3 x 2, b: 3) and the loss of a sample is the cross-entropy
of ``softmax(z)`` against its one-hot label (computed as ``-log_softmax``, so no
separate softmax layer).  ``sg.value_and_grad(..., data=("x", "y"))`` gives a
batch's mean loss and its gradient with respect to the parameter dict in one
pass; a batch is just the data argument's slice.

An epoch is one pass over all N samples in a fresh random order, in
``ceil(N / batch)`` iterations (the last batch is smaller).  Each epoch prints
the mean loss and the accuracy over the whole dataset.  Long runs (``--epochs``
with more than LONG_RUN iterations, or ``--progress``) draw a text progress bar
on stderr.

Run: python examples/softmax_regression.py [--epochs 8] [--batch 128] [--progress]
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

import symgrad as sg

C, D = 3, 2
N = 3000
CENTERS = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
LONG_RUN = 500  # iterations past which the progress bar is drawn


def cross_entropy(params, x, y):
    """One sample: x (D,), y one-hot (C,); returns its loss and (as aux) the probability of its class."""
    z = params["W"] @ x + params["b"]
    log_p = sg.log_softmax(z)
    return -sg.sum(y * log_p), sg.sum(y * sg.exp(log_p))


class Progress:
    """A one-line text progress bar on stderr, redrawn in place each time it grows by a step."""

    def __init__(self, total: int, width: int = 40) -> None:
        self.total, self.width, self.drawn = total, width, -1

    def update(self, done: int, text: str = "") -> None:
        filled = self.width * done // self.total
        if filled != self.drawn or done == self.total:
            self.drawn = filled
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {text}")
            sys.stderr.flush()

    def clear(self) -> None:
        """Blank the bar's line, so that a printed line starts clean (stdout and stderr share a terminal)."""
        sys.stderr.write("\r" + " " * (self.width + 40) + "\r")
        sys.stderr.flush()


def generate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = rng.integers(0, C, N)
    X = CENTERS[labels] + rng.normal(size=(N, D))
    return X, np.eye(C)[labels], labels


def accuracy(params: dict, X: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(X @ params["W"].T + params["b"], axis=1) == labels))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--progress", action="store_true", help="draw the progress bar even on a short run")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    X, Y, labels = generate(rng)
    shapes = {"params": {"W": (C, D), "b": (C,)}, "x": (D,), "y": (C,)}
    step = sg.value_and_grad(cross_entropy, shapes=shapes, data=("x", "y"), reduce="mean", has_aux=True)
    loss = sg.compile(cross_entropy, shapes=shapes, data=("x", "y"), reduce="mean")

    params = {"W": np.zeros((C, D)), "b": np.zeros(C)}
    iterations = math.ceil(N / args.batch)
    total = args.epochs * iterations
    bar = Progress(total) if args.progress or total > LONG_RUN else None
    first, _ = loss(params, X, Y)
    print(f"N = {N} samples, batch {args.batch}: {iterations} iterations per epoch")
    print(f"{'epoch':>5} {'mean loss':>10} {'accuracy':>9} {'p(class)':>9}")
    print(f"{0:5d} {first:10.4f} {accuracy(params, X, labels):9.3f}")
    history, done = [first], 0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(N)
        steps = 0
        for start in range(0, N, args.batch):
            batch = order[start : start + args.batch]
            (value, _), grads = step(params, X[batch], Y[batch])
            params = {k: params[k] - args.lr * grads[k] for k in params}
            steps += 1
            done += 1
            if bar:
                bar.update(done, f"epoch {epoch}, batch loss {value:.4f}")
        assert steps == iterations
        value, confidence = loss(params, X, Y)
        history.append(value)
        if bar:
            bar.clear()
        print(f"{epoch:5d} {value:10.4f} {accuracy(params, X, labels):9.3f} {confidence:9.3f}")

    # the mean gradient is the mean of the per-sample gradients (N15: dloss/dz = softmax(z) - y per sample)
    z = X @ params["W"].T + params["b"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    (_, _), grads = step(params, X, Y)
    np.testing.assert_allclose(grads["b"], np.mean(p - Y, axis=0), atol=1e-12)
    np.testing.assert_allclose(grads["W"], (p - Y).T @ X / N, atol=1e-12)
    final_accuracy = accuracy(params, X, labels)
    print(f"loss {first:.4f} -> {history[-1]:.4f}; accuracy {final_accuracy:.3f}")
    assert history[-1] < first / 2
    assert final_accuracy > 0.9
    print("all checks passed")


if __name__ == "__main__":
    main()
