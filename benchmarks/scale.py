"""Time and peak memory of each stage against graph size: is symgrad linear in the graph?

    python benchmarks/scale.py            # 5k, 20k, 50k steps
    python benchmarks/scale.py 100000     # any sizes
    python benchmarks/scale.py --quick    # 1k and 5k steps (a few seconds)

The workload is workloads.chain_stages: the chain y <- sin(y)*1e-5 + y repeated n
times, with its derivative: trace, differentiate, generate (schedule, print,
render), compile and run the numpy kernel (one call on 1,000 points), compile and
run the scalar path.  Each size runs in a fresh process (``--child n``) so peak RSS
(ru_maxrss) is its own.  The values at x = 0.3 are checked against a numpy forward
accumulation of the chain (outside the timed stages).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# harness and workloads are this folder's modules: a driver run as a script has the folder on sys.path
import harness as h
import numpy as np
import workloads as wl

KEYS = ["n", "nodes", "steps", "trace", "diff", "generate", "numpy compile+run", "scalar compile+run", "total"]
KEYS.append("peak_rss_MiB")


def child(n: int) -> None:
    """One size in this process: the stages' times, sizes and peak RSS as one JSON line."""
    laps = h.Laps(digits=2)
    result = wl.chain_stages(n, laps.lap)
    row = {**laps.times, "nodes": result["nodes"], "steps": result["steps"], "peak_rss_MiB": h.peak_rss_mib()}
    want = wl.chain_numpy(0.3, n)
    first_point = [np.asarray(a)[0] for a in result["array"]]
    row["ok"] = bool(np.allclose(result["scalar"], want, rtol=1e-12) and np.allclose(first_point, want, rtol=1e-12))
    print(json.dumps(row))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, help="chain lengths (default: 5000 20000 50000)")
    parser.add_argument("--quick", action="store_true", help="1000 and 5000 steps only")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    sizes = args.sizes or ([1_000, 5_000] if args.quick else [5_000, 20_000, 50_000])
    rows = []
    for n in sizes:
        start = time.perf_counter()
        row = h.run_child(__file__, "--child", str(n))
        row["n"], row["total"] = n, round(time.perf_counter() - start, 1)
        h.check(row.pop("ok"), f"S: the chain of {n} steps or its derivative differs from numpy's")
        rows.append(row)
        print(json.dumps(row), flush=True)
    sec = h.Section("S: stages against graph size", KEYS)
    for row in rows:
        sec.add(*(row[k] for k in KEYS))
    print("\n" + sec.markdown())
    return h.exit_status()


if __name__ == "__main__":
    sys.exit(main())
