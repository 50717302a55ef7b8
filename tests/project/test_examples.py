"""Every script in examples/ runs, passes its own checks (they assert their numbers), and prints the notes' numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []

KEY_OUTPUT = {
    "autograd_tutorial.py": ["dw/dx = 2, dw/dy = 2", "a.grad = [36. 81.]", "b.grad = [-12.  -8.]", "MulBackward"],
    "backprop_linear_model.py": [
        "at x = 2: 60.0",
        "dloss/dw = 2s * x = -2.0",
        "least squares: [ 2.9873 -2.0079]",
        "gradient keys ['b', 'w']",
    ],
    "partial_derivatives.py": ["= 18 ", "= 43 ", "= 20 ", "= 337 ", "= 96 ", "= 64 ", "[[18.  4.]"],
    "softmax_cross_entropy.py": ["[0.659 0.242 0.099]", "-> 0.357", "-> 2.303"],
    "higher_order.py": ["16*exp(x)*sin(x)", "17.753421250027", "6 and 6"],
    "exercise_checker.py": ["correct 288, claimed -12", "correct [4, 5.333333333], claimed [6, 8]", "wrong sign"],
    "notes_walkthrough.py": ["9*a**2", "(43.0, 20.0)", "[6. 8.]"],
    "linear_regression.py": ["mean(2*x[0]*(b + w[0]*x[0]", "fell by a factor of", "all checks passed"],
    "softmax_regression.py": ["24 iterations per epoch", "accuracy 0.92"],
    "dask_training.py": ["2 worker processes", "the Dask result equals the numpy one"],
}
ARGS = {"dask_training.py": ["--samples", "200000", "--chunk", "30000"]}  # the 10**7 samples of a full run, shrunk


def _run(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), *ARGS.get(script.name, [])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess]:
    """Each example run once, in parallel (interpreter start-up dominates)."""
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        return dict(zip((s.name for s in SCRIPTS), pool.map(_run, SCRIPTS)))


def test_every_documented_example_exists():
    if not SCRIPTS:
        pytest.skip("needs the source tree")
    assert set(KEY_OUTPUT) <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize("name", [s.name for s in SCRIPTS])
def test_example_runs_and_prints_its_key_numbers(results, name):
    res = results[name]
    assert res.returncode == 0, f"{name} exited {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    for expected in KEY_OUTPUT.get(name, []):
        assert expected in res.stdout, (name, expected)
    if name != "notes_walkthrough.py":
        assert res.stdout.rstrip().endswith("all checks passed")
