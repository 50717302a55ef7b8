"""symgrad's CUDA backend on a GPU: W2 (value + gradient + Hessian of a 3-input function).

    python benchmarks/gpu.py            # 1e7 and 1e8 points, float64 and float32
    python benchmarks/gpu.py --quick    # 1e6 and 1e7 points

Needs CuPy and a CUDA GPU (``pip install '.[cuda]'``); JAX is compared when installed.
For each size and dtype it reports the median kernel time (CUDA events, after a
warm-up), the achieved bandwidth -- bytes of inputs read plus outputs written,
over the time -- and that bandwidth as a fraction of the card's device-to-device
copy bandwidth measured in the same run.  Peers on the same work and the same GPU:

- a plain CuPy ``ElementwiseKernel`` with the hand-derived formulas (the same 13
  output values per point, written once each; workloads.W2_HAND_STEPS);
- ``jax.jit(jax.vmap(value, grad, hessian))`` when JAX (with CUDA) is installed.

Every result is checked against symgrad's function transforms on a sample of points.
Nothing is asserted about speed; the table is printed as markdown.
"""

from __future__ import annotations

import argparse
import sys

# harness and workloads are this folder's modules: a driver run as a script has the folder on sys.path
import harness as h
import numpy as np
import workloads as wl

import symgrad as sg

REPEAT = 15
OUTPUTS = len(wl.W2_FLAT_NAMES)  # f (1) + gradient (3) + Hessian (9) values per point
SAMPLE = slice(0, 1000)  # the points every peer's result is checked on


def copy_bandwidth(cp) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second) on 1 GiB."""
    a = cp.ones((1 << 30) // 8, dtype=cp.float64)
    b = cp.empty_like(a)
    return 2 * a.nbytes / h.gpu_time(lambda: cp.copyto(b, a), REPEAT)


def bench(cp, n: int, dtype: str, copy_bw: float, sec: h.Section) -> None:
    X, Y, Z = (a.astype(dtype) for a in wl.w2_points(n, cp))
    moved = (3 + OUTPUTS) * n * np.dtype(dtype).itemsize
    want = wl.w2_by_transforms(*(cp.asnumpy(a[SAMPLE]).astype(float) for a in (X, Y, Z)))
    tol = 1e-9 if dtype == "float64" else 2e-3

    def record(peer: str, seconds: float, outputs: list) -> None:
        ok = wl.w2_close([cp.asnumpy(o[SAMPLE]) for o in outputs], want, rtol=tol, atol=tol)
        h.check(ok, f"GPU W2: {peer} ({n:.0e} points, {dtype}) disagrees with symgrad's numpy transforms")
        bw = moved / seconds
        sec.add(
            f"{n:.0e}",
            dtype,
            peer,
            f"{seconds * 1e3:.2f}",
            f"{seconds / n * 1e12:.0f}",
            f"{bw / 1e9:.0f}",
            f"{bw / copy_bw:.0%}",
            "yes" if ok else "**NO**",
        )

    # symgrad: value, gradient and Hessian from one fused kernel
    fused = wl.w2_symgrad("cuda", dtype=dtype)
    t_sg = h.gpu_time(lambda: fused(X, Y, Z), REPEAT)
    record("symgrad backend='cuda'", t_sg, wl.w2_flat(*fused(X, Y, Z)))

    # plain CuPy elementwise kernel with the hand-derived formulas
    hand = wl.w2_hand_cuda_kernel()
    hand_out = [cp.empty(n, dtype=dtype) for _ in range(OUTPUTS)]
    record("CuPy ElementwiseKernel (hand-derived)", h.gpu_time(lambda: hand(X, Y, Z, *hand_out), REPEAT), hand_out)

    if wl.peer("jax") is not None:
        vfun = wl.w2_jax()
        V = wl.peer("jax").numpy.asarray(cp.asnumpy(wl.w2_stacked(X, Y, Z, cp)))
        t_j = h.gpu_time(lambda: [o.block_until_ready() for o in vfun(V)], REPEAT)
        record("JAX jit(vmap(value, grad, hessian))", t_j, wl.w2_flat(*(cp.asarray(np.asarray(o)) for o in vfun(V))))


def main(argv=None) -> int | str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e6 and 1e7 points only")
    args = parser.parse_args(argv)
    cp = wl.peer("cupy")
    if cp is None:
        return "CuPy not installed: benchmarks/gpu.py needs CuPy and a CUDA GPU (pip install '.[cuda]')"
    sizes = [10**6, 10**7] if args.quick else [10**7, 10**8]
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    copy_bw = copy_bandwidth(cp)
    sec = h.Section(
        f"W2 on {props['name'].decode()} (symgrad {sg.__version__}, CuPy {cp.__version__})",
        ["points", "dtype", "peer", "ms", "ps / point", "GB/s moved", "of copy bandwidth", "agrees"],
        level=2,
    )
    sec.intro.append(f"Measured device-to-device copy bandwidth: {copy_bw / 1e9:.0f} GB/s (1 GiB, read + write).")
    for n in sizes:
        for dtype in ("float64", "float32"):
            bench(cp, n, dtype, copy_bw, sec)
            cp.get_default_memory_pool().free_all_blocks()
    if wl.peer("jax") is None:
        sec.notes.append("JAX not installed: skipped.")
    sec.notes.append(
        f"Bytes moved = (3 inputs + {OUTPUTS} outputs) x points x itemsize; median of {REPEAT} runs (CUDA events)."
    )
    print(sec.markdown())
    return h.exit_status()


if __name__ == "__main__":
    sys.exit(main())
