"""Time and peak memory of each stage against graph size: is symgrad linear in the graph?

    cd /work/main && PYTHONPATH=. python benchmarks/scale.py            # 5k, 20k, 50k steps
    cd /work/main && PYTHONPATH=. python benchmarks/scale.py 100000     # any sizes

The workload is the chain y <- sin(y)*1e-5 + y repeated n times, with its
derivative: trace, differentiate, generate (schedule, print, render), compile
and run the numpy kernel (one call on 1,000 points), compile and run the scalar
path.  Each size runs in a fresh process so peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
import numpy as np
import symgrad as sg
from symgrad.ir import toposort
n = int(sys.argv[1]); t = {}; T = time.perf_counter()
def lap(name):
    global T
    now = time.perf_counter(); t[name] = round(now - T, 2); T = now
x = sg.symbols("x"); y = x
for _ in range(n):
    y = sg.sin(y) * 1e-5 + y
lap("trace")
d = sg.diff(y, x); lap("diff")
f = sg.compile([y, d], inputs=[x]); lap("generate")
f(np.full(1000, 0.3)); lap("numpy compile+run")
f(0.3); lap("scalar compile+run")
t["nodes"] = len(toposort([y, d])); t["steps"] = f.statement_count
t["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps(t))
"""


def main(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["n"], row["total"] = n, round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = ["n", "nodes", "steps", "trace", "diff", "generate", "numpy compile+run", "scalar compile+run", "total"]
    keys.append("peak_rss_MiB")
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [5_000, 20_000, 50_000])
