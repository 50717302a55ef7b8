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
    # every worked example of the notes, its numbers by hand (N1-N19, the slips N2', N8', N10 with the right values)
    "notes_walkthrough.py": [
        "z = 5, w = 10",
        "dw/dx = 2, dw/dy = 2",
        "dQ/da = 9*a**2   dQ/db = -2*b",
        "Q = (-12, 65)",
        "a.grad = (36, 81)   b.grad = (-12, -8)",
        "right (1296, 1296), the notes' (36, 81)",
        "right (288, 648), the notes' (-12, -8)",
        "y = -30, dy/dx = 31",
        "dz/dy = 5, dy/dx = 3*x**2 = 12",
        "15*x**2 = 60",
        "6*x = 18",
        "at (3, 4): (43, 20)",
        "Hessian = [[6*x1, 4], [4, 2]]",
        "at (3, 4): [[18, 4], [4, 2]]",
        "= 337 at",
        "= 96 at",
        "= 64 at",
        "x + 1 = 3 at",
        "y = (3, 4), z = (18, 32), L = mean(z) = 25",
        "dL/dz = (0.5, 0.5)",
        "dL/dx = 4*y/2 = (6, 8)",
        "dL/dz = (0.3333333, 0.3333333)",
        "right (4, 5.333333), the notes' (6, 8)",
        "y_hat = 1, s = -1, loss = 1",
        "dloss/ds = 2*s = -2",
        "dloss/dy_hat = -2",
        "= -2\none gradient-descent step, rate 0.1: w <- w - 0.1*(-2) = 1.2",
        "wrong sign and has an extra factor W",
        "right 22, the notes' -66",
        "v.v = 14",
        "[[1, 2, 3], [2, 4, 6], [3, 6, 9]]",
        "(0.659, 0.242, 0.099)",
        "0.357 for (0.7, 0.2, 0.1), 2.303 for (0.1, 0.3, 0.6)",
        "the gradient is softmax(z) - Y",
        "its Jacobian is 3x2",
        "(784, 28, 1);  of [[1, 2], [3, 4]]: (2, 1)",
        "offset 1*2 + 0*1 = 2: 3",
        "at w = 1, b = 0.5, x = 2: (10, 5)",
        "d2/dx2 of N5 = 6;  d3/dx3 of N3 = 6",
        "[[-3.229953, -1.843111, 0.9103402]",
    ],
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
    assert res.stdout.rstrip().endswith("all checks passed")
    if name == "notes_walkthrough.py":  # the notes' three slips are called wrong, and nothing else is
        assert res.stdout.count("SLIP in the notes") == 3
        for slip in ("9*a**2 and -2*b for the product", "dL/dx = (6, 8) for L = (z1 + z2)/3", "dL/dW = 2*(y - (W*x"):
            assert f"SLIP in the notes: {slip}" in res.stdout, slip
