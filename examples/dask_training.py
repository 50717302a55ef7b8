"""Training on data beyond one machine's memory: the same compiled loss over a Dask array, on a local cluster.

The linear regression of ``linear_regression.py`` over 10**7 samples, generated
lazily by Dask in uneven chunks on the workers of a ``dask.distributed``
``LocalCluster`` (2 worker processes).  The compiled mean loss and its gradient
are called exactly as on numpy arrays: each chunk is evaluated where it lives
by the local kernel, which returns partial sums and a count, and the partials
are combined by a tree reduction; only the few numbers of the result come back.

Run: python examples/dask_training.py [--samples 10000000] [--chunk 900000] [--threads]
(needs ``pip install "symgrad[dask]"``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symgrad as sg

D = 3
W_TRUE = np.array([2.0, -1.0, 0.5])
B_TRUE = 0.7
NOISE = 0.1
STEPS = 8
LEARNING_RATE = 0.4
FACTOR = 100  # the loss must fall by more than this


def loss(w, b, x, y):
    """The squared error of one sample: x has shape (D,), y is a number."""
    return (x @ w + b - y) ** 2


def dataset(samples: int, chunk: int, seed: int = 0):
    """X (samples, D) and Y (samples,) as Dask arrays in uneven chunks (each a little smaller than the last)."""
    import dask.array as da

    sizes, left = [], samples
    while left:
        sizes.append(min(left, max(1, chunk - 1000 * len(sizes))))
        left -= sizes[-1]
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(samples, D), chunks=(tuple(sizes), D))
    Y = X @ W_TRUE + B_TRUE + NOISE * rng.normal(size=samples, chunks=(tuple(sizes),))
    return X, Y


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=900_000, help="samples per Dask chunk (they vary around it)")
    parser.add_argument("--threads", action="store_true", help="a cluster of threads instead of processes")
    args = parser.parse_args(argv)

    import dask
    from dask.distributed import Client, LocalCluster

    try:
        backend = "c"
        step = sg.value_and_grad(loss, argnums=(0, 1), shapes={"w": (D,), "x": (D,)}, data=("x", "y"), backend=backend)
    except sg.BackendError:  # no C compiler: the numpy kernel works the same way
        backend = "numpy"
        step = sg.value_and_grad(loss, argnums=(0, 1), shapes={"w": (D,), "x": (D,)}, data=("x", "y"))
    processes = not args.threads
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=":0") as cluster,
        Client(cluster),
    ):
        X, Y = dataset(args.samples, min(args.chunk, args.samples))
        X, Y = dask.persist(X, Y)  # generated once, kept in the workers' memory
        print(f"{args.samples} samples in {X.numblocks[0]} chunks (sizes {X.chunks[0][0]} .. {X.chunks[0][-1]}), "
              f"2 worker {'processes' if processes else 'threads'}, backend {backend!r}")  # fmt: skip
        w, b = np.zeros(D), 0.0
        history = []
        started = time.perf_counter()
        for k in range(STEPS + 1):
            value, (gw, gb) = step(w, b, X, Y)  # one pass over every chunk, on the workers
            history.append(value)
            print(f"step {k}: mean loss {value:.6f}, w = {np.round(w, 4)}, b = {b:.4f}")
            if k < STEPS:
                w, b = w - LEARNING_RATE * gw, b - LEARNING_RATE * gb
        per_pass = (time.perf_counter() - started) / (STEPS + 1)
        print(f"{per_pass * 1e3:.0f} ms per pass over the {args.samples} samples")
        if args.samples <= 1_000_000:  # small enough to check against numpy on this machine
            Xn, Yn = dask.compute(X, Y)
            value_np, (gw_np, gb_np) = step(w, b, Xn, Yn)
            value_dask, (gw_dask, gb_dask) = step(w, b, X, Y)
            np.testing.assert_allclose([value_dask, gb_dask, *gw_dask], [value_np, gb_np, *gw_np], rtol=1e-12)
            assert np.isclose(value_np, np.mean((Xn @ w + b - Yn) ** 2), rtol=1e-12)
            print("the Dask result equals the numpy one on the same data")
    print(f"loss {history[0]:.4f} -> {history[-1]:.6f}: fell by a factor of {history[0] / history[-1]:.0f}")
    assert history[0] / history[-1] > FACTOR
    np.testing.assert_allclose(w, W_TRUE, atol=0.01)
    assert abs(b - B_TRUE) < 0.01
    print("all checks passed")


if __name__ == "__main__":
    main()
