"""symgrad's CUDA backend on a GPU: W2 (value + gradient + Hessian of a 3-input function).

    python benchmarks/gpu.py            # 1e7 and 1e8 points, float64 and float32
    python benchmarks/gpu.py --quick    # 1e6 and 1e7 points

Needs CuPy and a CUDA GPU (``pip install '.[cuda]'``); JAX is compared when importable.
For each size and dtype it reports the median kernel time (CUDA events, after a
warm-up), the achieved bandwidth -- bytes of inputs read plus outputs written,
over the time -- and that bandwidth as a fraction of the card's device-to-device
copy bandwidth measured in the same run.  Peers on the same work and the same GPU:

- a plain CuPy ``ElementwiseKernel`` with the hand-derived formulas (the same 13
  output values per point, written once each);
- ``jax.jit(jax.vmap(value, grad, hessian))`` when JAX (with CUDA) is importable.

Every result is checked against symgrad's numpy backend on a sample of points.
Nothing is asserted about speed; the table is printed as markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import symgrad as sg

try:
    import cupy as cp
except ImportError:
    sys.exit("benchmarks/gpu.py needs CuPy and a CUDA GPU (pip install '.[cuda]')")

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None

REPEAT = 15
OUTPUTS = 13  # f (1) + gradient (3) + Hessian (9) values per point


def f_sg(x, y, z):
    return sg.sin(x * y) * sg.exp(-(z**2)) + sg.log(1 + x**2 + y**2) * sg.tanh(z) + x * y * z / (1 + x**2)


def gpu_time(fn, repeat: int = REPEAT) -> float:
    """Median seconds of ``fn()`` on the current stream, timed with CUDA events after a warm-up."""
    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return statistics.median(times)


def copy_bandwidth() -> float:
    """Device-to-device copy bandwidth (bytes read + written per second) on 1 GiB."""
    n = (1 << 30) // 8
    a = cp.ones(n, dtype=cp.float64)
    b = cp.empty_like(a)
    t = gpu_time(lambda: cp.copyto(b, a))
    return 2 * a.nbytes / t


HAND = cp.ElementwiseKernel(
    "T x, T y, T z",
    "T f, T fx, T fy, T fz, T fxx, T fxy, T fxz, T fyx, T fyy, T fyz, T fzx, T fzy, T fzz",
    """
    T xy = x * y, s = sin(xy), c = cos(xy), E = exp(-z * z), sE = s * E, cE = c * E;
    T Q = 1 + x * x + y * y, L = log(Q), Th = tanh(z), S = 1 - Th * Th, iQ = 1 / Q, iQ2 = iQ * iQ;
    T D = 1 + x * x, iD = 1 / D, g0 = x * iD, g1 = (1 - x * x) * iD * iD, g2 = 2 * x * (x * x - 3) * iD * iD * iD;
    T yz = y * z, m2z = -2 * z;
    f = sE + L * Th + yz * g0;
    fx = y * cE + 2 * x * iQ * Th + yz * g1;
    fy = x * cE + 2 * y * iQ * Th + z * g0;
    fz = m2z * sE + L * S + y * g0;
    fxx = -y * y * sE + 2 * Th * (1 - x * x + y * y) * iQ2 + yz * g2;
    fxy = cE - xy * sE - 4 * Th * xy * iQ2 + z * g1; fyx = fxy;
    fxz = m2z * y * cE + 2 * x * iQ * S + y * g1; fzx = fxz;
    fyy = -x * x * sE + 2 * Th * (1 + x * x - y * y) * iQ2;
    fyz = m2z * x * cE + 2 * y * iQ * S + g0; fzy = fyz;
    fzz = (4 * z * z - 2) * sE - 2 * L * Th * S;
    """,
    "w2_hand",
)


def _sample_ok(got, want, dtype) -> bool:
    tol = 1e-9 if dtype == "float64" else 2e-3
    return all(np.allclose(g, w, rtol=tol, atol=tol) for g, w in zip(got, want))


def bench(n: int, dtype: str, copy_bw: float, rows: list) -> None:
    rng = cp.random.default_rng(0)
    X, Y, Z = (rng.uniform(0.5, 1.5, n).astype(dtype) for _ in range(3))
    itemsize = np.dtype(dtype).itemsize
    moved = (3 + OUTPUTS) * n * itemsize
    sample = slice(0, 1000)
    host = [cp.asnumpy(a[sample]).astype(float) for a in (X, Y, Z)]
    want_v, want_g = sg.value_and_grad(f_sg, argnums=(0, 1, 2))(*host)
    want_h = sg.hessian(f_sg, argnums=(0, 1, 2))(*host)
    want = [want_v, *want_g, *(h for row in want_h for h in row)]

    def record(peer, seconds, outputs):
        got = [cp.asnumpy(o[sample]) for o in outputs]
        bw = moved / seconds
        rows.append(
            (
                f"{n:.0e}",
                dtype,
                peer,
                f"{seconds * 1e3:.2f}",
                f"{seconds / n * 1e12:.0f}",
                f"{bw / 1e9:.0f}",
                f"{bw / copy_bw:.0%}",
                "yes" if _sample_ok(got, want, dtype) else "**NO**",
            )
        )
        return seconds

    # symgrad: value, gradient and Hessian from one fused kernel
    x, y, z = sg.symbols("x y z")
    f = f_sg(x, y, z)
    outputs = [f, sg.gradient(f, [x, y, z]), sg.hessian(f, [x, y, z])]
    fused = sg.compile(outputs, inputs=[x, y, z], backend="cuda", dtype=dtype)
    t_sg = gpu_time(lambda: fused(X, Y, Z))
    out = fused(X, Y, Z)
    flat = [out[0], *(out[1][:, k] for k in range(3)), *(out[2][:, i, j] for i in range(3) for j in range(3))]
    record("symgrad backend='cuda'", t_sg, flat)

    # plain CuPy elementwise kernel with the hand-derived formulas
    hand_out = [cp.empty(n, dtype=dtype) for _ in range(OUTPUTS)]
    t_hand = gpu_time(lambda: HAND(X, Y, Z, *hand_out))
    record("CuPy ElementwiseKernel (hand-derived)", t_hand, hand_out)

    if jax is not None:
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)

        def fj(v):
            x, y, z = v
            return jnp.sin(x * y) * jnp.exp(-(z**2)) + jnp.log(1 + x**2 + y**2) * jnp.tanh(z) + x * y * z / (1 + x**2)

        vfun = jax.jit(jax.vmap(lambda v: (fj(v), jax.grad(fj)(v), jax.hessian(fj)(v))))
        V = jnp.asarray(cp.asnumpy(cp.stack([X, Y, Z], axis=-1)))

        def run():
            return [o.block_until_ready() for o in vfun(V)]

        t_j = gpu_time(run)
        jv, jg, jh = (cp.asarray(np.asarray(o)) for o in vfun(V))
        record("JAX jit(vmap(value, grad, hessian))", t_j, [jv, *(jg[:, k] for k in range(3)),
                                                            *(jh[:, i, j] for i in range(3) for j in range(3))])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e6 and 1e7 points only")
    args = parser.parse_args()
    sizes = [10**6, 10**7] if args.quick else [10**7, 10**8]
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    copy_bw = copy_bandwidth()
    rows: list = []
    for n in sizes:
        for dtype in ("float64", "float32"):
            bench(n, dtype, copy_bw, rows)
            cp.get_default_memory_pool().free_all_blocks()
    print(f"## W2 on {props['name'].decode()} (symgrad {sg.__version__}, CuPy {cp.__version__})\n")
    print(f"Measured device-to-device copy bandwidth: {copy_bw / 1e9:.0f} GB/s (1 GiB, read + write).\n")
    print("| points | dtype | peer | ms | ps / point | GB/s moved | of copy bandwidth | agrees |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nBytes moved = (3 inputs + {OUTPUTS} outputs) x points x itemsize; median of {REPEAT} runs (CUDA events).")


if __name__ == "__main__":
    main()
