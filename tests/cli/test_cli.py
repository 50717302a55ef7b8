"""The `symgrad` console script, run as users run it: a separate process per command line.

The script under test is the installed one (next to the interpreter, or on PATH); only
when symgrad is not installed as a distribution does the suite fall back to
``python -m symgrad``.  Every command line is started once, all in parallel, by a
module fixture (interpreter start-up dominates), and the tests read the results.
Numbers and formulas are checked against sympy or against symgrad's own API in-process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.cli import main as cli
from symgrad.cli import parser as cli_parser
from symgrad.formula import parse
from symgrad.graph import graph


def _script() -> list[str]:
    """The installed console script; ``python -m symgrad`` only when symgrad is not installed."""
    try:
        importlib.metadata.distribution("symgrad")
    except importlib.metadata.PackageNotFoundError:
        return [sys.executable, "-m", "symgrad"]
    beside = Path(sys.executable).parent / ("symgrad.exe" if os.name == "nt" else "symgrad")
    found = str(beside) if beside.exists() else shutil.which("symgrad")
    assert found, "symgrad is installed but its console script is neither next to the interpreter nor on PATH"
    return [found]


SCRIPT = _script()
N6 = "x1**3 + x2**2 + 4*x1*x2 + 5"
TOUCH = "__import__('os').system('touch PWNED')"

CASES: dict[str, list[str]] = {  # run as separate processes of the installed script: every command, every exit code
    "grad": ["grad", N6, "--at", "x1=3", "x2=4"],
    "grad_json": ["grad", N6, "--at", "x1=3", "x2=4", "--json"],
    "hessian_json": ["hessian", N6, "--at", "x1=3", "x2=4", "--json"],
    "diff4_json": ["diff", "exp(sin(x))", "--wrt", "x", "--order", "4", "--at", "x=0.3", "--json"],
    "diff_mixed_json": ["diff", "x**3*y**2*sin(y)", "--wrt", "x,x,y", "--at", "x=1.5", "y=2", "--json"],
    "jacobian_json": ["jacobian", "[x*y, sin(x)]", "--wrt", "x,y", "--at", "x=1", "y=-2", "--json"],
    "shape_json": ["grad", "sum(a**2)*b", "--shape", "a=2", "--at", "a=[1,-2]", "b=-3", "--json"],
    "dash_formula": ["grad", "-x**2 + y", "--at", "x=-1", "y=-pi/2"],
    "check_slip": ["check", "3*a**3*b**2", "--wrt", "b", "--claimed", "-2*b"],
    "check_right": ["check", "3*a**3 - b**2", "--wrt", "b", "--claimed", "-2*b"],
    "check_json": ["check", "3*a**3*b**2", "--wrt", "b", "--claimed", "-2*b", "--json"],
    "codegen_numpy": ["codegen", "x*sin(y)", "--what", "grad"],
    "codegen_cuda": ["codegen", "x*sin(y)", "--backend", "cuda", "--what", "grad"],
    "graph_dot": ["graph", "exp(sin(x))*y", "--grad"],
    "graph_svg_no_dot": ["graph", "x*y", "-o", "{tmp}/g.svg"],
    "refused_call": ["grad", TOUCH],
    "refused_attribute": ["grad", "x.__class__"],
    "refused_lambda": ["diff", "lambda: 1", "--wrt", "x"],
    "unknown_option": ["grad", "x", "--bogus"],
    "module_version": ["--version"],  # through `python -m symgrad`
}
IN_PROCESS: dict[str, list[str]] = {  # the same main(), called directly: interpreter start-up costs ~1 s a process
    "grad_latex": ["grad", N6, "--latex"],
    "hessian_text": ["hessian", N6, "--at", "x1=3", "x2=4"],
    "hessian_latex": ["hessian", "x*y**2", "--at", "x=1", "y=2", "--latex"],
    "diff_order_each_json": ["diff", "x**3*y**3", "--wrt", "x,y", "--order", "2", "--json"],
    "shape_matrix_json": ["grad", "sum(M @ v)", "--shape", "M=2x2", "v=2", "--wrt", "v", "--json"],
    "formula_after_list": ["grad", "--at", "x=-1", "-x**3"],
    "check_slip_equals": ["check", "3*a**3*b**2", "--wrt", "b", "--claimed=-2*b", "--at", "a=2", "b=6"],
    "check_latex": ["check", "3*a**3*b**2", "--wrt", "b", "--claimed", "-2*b", "--latex"],
    "check_list": ["check", "3*a**3 - b**2", "--wrt", "a,b", "--claimed", "[9*a**2, -2*b]"],
    "codegen_json": ["codegen", "x*sin(y)", "--what", "hessian", "--json"],
    "codegen_c": ["codegen", "x*sin(y)", "--backend", "c"],
    "graph_file": ["graph", "exp(sin(x))*y", "-o", "{tmp}/g.dot"],
    "graph_png_to_stdout": ["graph", "x", "--format", "png"],
    "refused_at": ["grad", "x", "--at", f"x={TOUCH}"],
    "refused_claim": ["check", "x**2", "--claimed", TOUCH],
    "no_command": [],
    "missing_value": ["grad", "x*y", "--at", "x=1"],
    "unknown_name": ["grad", "x*y", "--at", "x=1", "y=2", "z=3"],
    "list_for_grad": ["grad", "[x, y]"],
    "help": ["--help"],
}
NO_DOT = {"graph_svg_no_dot"}  # run with a PATH that has no Graphviz


def _argv(name: str, tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in {**CASES, **IN_PROCESS}[name]]


def _run(name: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if name in NO_DOT:
        env["PATH"] = str(Path(SCRIPT[0]).parent) if len(SCRIPT) == 1 else str(tmp)
    command = [sys.executable, "-m", "symgrad"] if name.startswith("module_") else SCRIPT
    return subprocess.run(
        command + _argv(name, tmp), capture_output=True, cwd=tmp, env=env, timeout=120, check=False, encoding="utf-8"
    )


def _run_in_process(name: str, tmp: Path) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(_argv(name, tmp))
    return subprocess.CompletedProcess(name, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every command line, run once: the processes in parallel, the in-process calls meanwhile."""
    tmp = tmp_path_factory.mktemp("cli")
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 2) as pool:
        futures = {name: pool.submit(_run, name, tmp) for name in CASES}
        results = {name: _run_in_process(name, tmp) for name in IN_PROCESS}
        results.update({name: f.result() for name, f in futures.items()})
    results["_tmp"] = tmp
    return results


def _ok(res: subprocess.CompletedProcess, code: int = 0) -> str:
    assert res.returncode == code, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert "Traceback" not in res.stderr
    return res.stdout


def _json(res: subprocess.CompletedProcess, code: int = 0) -> dict:
    return json.loads(_ok(res, code))


def _same(formula: str, oracle: sp.Expr, names: list[str], shapes: dict | None = None) -> bool:
    """Whether a printed formula equals a sympy expression (compared at seeded points, through symgrad's parser)."""
    f = parse(formula, shapes)
    symbols = sp.symbols(names, real=True)
    rng = np.random.default_rng(0)
    compiled = sg.compile(f.value, inputs=[sg.symbols(n) for n in names])
    for _ in range(3):
        point = rng.uniform(0.3, 1.7, len(names))
        expect = float(oracle.subs(dict(zip(symbols, point))).evalf())
        if not np.isclose(compiled(*point), expect, rtol=1e-10, atol=1e-12):
            return False
    return True


X1, X2, X, Y = sp.symbols("x1 x2 x y", real=True)
N6_SP = X1**3 + X2**2 + 4 * X1 * X2 + 5


# -- the derivative commands -----------------------------------------------------------------------------


def test_grad_prints_the_formulas_and_the_notes_values(runs):
    out = _ok(runs["grad"])
    assert "at x1=3, x2=4:" in out
    lines = {line.split("=")[0].strip(): line for line in out.splitlines()}
    assert lines["df/dx1"].rstrip().endswith("= 43") and lines["df/dx2"].rstrip().endswith("= 20")
    data = _json(runs["grad_json"])
    assert data["command"] == "grad" and data["variables"] == ["x1", "x2"]
    assert data["at"] == {"x1": 3.0, "x2": 4.0} and data["value"] == float(N6_SP.subs({X1: 3, X2: 4}))
    for entry, var in zip(data["results"], (X1, X2)):
        oracle = sp.diff(N6_SP, var)
        assert entry["value"] == float(oracle.subs({X1: 3, X2: 4}))
        assert _same(entry["formula"], oracle, ["x1", "x2"])
        assert f"{entry['name']} = {entry['formula']} " in _ok(runs["grad"])


def test_grad_latex(runs):
    out = _ok(runs["grad_latex"])
    assert out.startswith("f = ")
    for var in (X1, X2):
        assert f"\\frac{{\\partial f}}{{\\partial {sp.latex(var)}}} = {sp.latex(sp.diff(N6_SP, var))}" in out


def test_hessian(runs):
    data = _json(runs["hessian_json"])
    oracle = sp.hessian(N6_SP, (X1, X2))
    assert data["value_matrix"] == np.array(oracle.subs({X1: 3, X2: 4}), dtype=float).tolist() == [[18, 4], [4, 2]]
    for i in range(2):
        for j in range(2):
            assert _same(data["matrix"][i][j], oracle[i, j], ["x1", "x2"])
    text = _ok(runs["hessian_text"])
    assert "matrix: [[18, 4], [4, 2]]" in text and text.count("d^2 f/dx1 dx2") == 1  # symmetric: shown once
    latex = _ok(runs["hessian_latex"])
    assert r"H = \left[\begin{matrix}0 & 2 y\\2 y & 2 x\end{matrix}\right]" in latex
    assert r"\begin{pmatrix} 0 & 4 \\ 4 & 2 \end{pmatrix}" in latex


def test_diff_of_any_order_and_mixed_partials(runs):
    fourth = sp.diff(sp.exp(sp.sin(X)), X, 4)
    data = _json(runs["diff4_json"])
    (entry,) = data["results"]
    assert entry["name"] == "d^4 f/dx^4" and entry["wrt"] == ["x"] * 4
    assert np.isclose(entry["value"], float(fourth.subs(X, 0.3)), rtol=1e-12)
    assert _same(entry["formula"], fourth, ["x"])
    assert len(entry["formula"]) < 100, "simplified for reading"
    mixed = sp.diff(X**3 * Y**2 * sp.sin(Y), X, X, Y)
    (entry,) = _json(runs["diff_mixed_json"])["results"]
    assert entry["name"] == "d^3 f/dx^2 dy"
    assert np.isclose(entry["value"], float(mixed.subs({X: 1.5, Y: 2})), rtol=1e-12)
    (entry,) = _json(runs["diff_order_each_json"])["results"]
    assert entry["name"] == "d^4 f/dx^2 dy^2" and _same(entry["formula"], sp.diff(X**3 * Y**3, X, 2, Y, 2), ["x", "y"])


def test_jacobian(runs):
    data = _json(runs["jacobian_json"])
    oracle = sp.Matrix([X * Y, sp.sin(X)]).jacobian([X, Y])
    assert np.allclose(data["value_matrix"], np.array(oracle.subs({X: 1, Y: -2}), dtype=float), rtol=1e-14)
    for i in range(2):
        for j in range(2):
            assert _same(data["matrix"][i][j], oracle[i, j], ["x", "y"])
    assert data["expression"] == ["x*y", "sin(x)"]


def test_shape_declares_vector_and_matrix_symbols(runs):
    data = _json(runs["shape_json"])
    a, b = np.array([1.0, -2.0]), -3.0
    assert data["variables"] == ["a[0]", "a[1]", "b"]
    assert [r["value"] for r in data["results"]] == [*(2 * a * b), float(np.sum(a**2))]
    assert data["at"] == {"a": [1.0, -2.0], "b": -3.0}
    data = _json(runs["shape_matrix_json"])
    assert data["variables"] == ["v[0]", "v[1]"]
    M = sg.symbols("M", shape=(2, 2))
    expect = [
        str(sg.simplify(g)) for g in sg.gradient(sg.sum(M @ sg.symbols("v", shape=(2,))), sg.symbols("v", shape=(2,)))
    ]
    assert [r["formula"] for r in data["results"]] == expect


def test_values_and_formulas_may_start_with_a_minus(runs):
    out = _ok(runs["dash_formula"])
    assert "f = -x**2 + y" in out and "at x=-1, y=-1.5707963267948966:" in out
    assert out.splitlines()[3].rstrip().endswith("= 2")  # df/dx = -2x at x = -1
    out = _ok(runs["formula_after_list"])
    assert "df/dx = -3*x**2" in out and out.rstrip().endswith("= -3")


def test_join_dash_values_unit():
    _, kinds = cli_parser.build_parser()
    join = cli_parser.join_dash_values
    assert join(["check", "f", "--claimed", "-2*b"], kinds) == ["check", "f", "--claimed=-2*b"]
    assert join(["grad", "-x", "--at", "x=-1", "y=2"], kinds) == ["grad", "--formula=-x", "--at=x=-1", "--at=y=2"]
    assert join(["grad", "--at", "x=1", "x<=2"], kinds) == ["grad", "--at=x=1", "x<=2"]
    assert join(["graph", "x", "-o", "-odd.svg"], kinds) == ["graph", "x", "-o-odd.svg"]
    assert join(["grad", "--wrt", "--json"], kinds) == ["grad", "--wrt", "--json"]  # argparse reports the gap
    assert join(["grad", "--", "-x"], kinds) == ["grad", "--", "-x"]
    assert cli.split_top_level("a[0, 1], y,M[1,0]") == ["a[0, 1]", "y", "M[1,0]"]


def test_at_items_with_non_ascii_names_follow_other_items():
    """θ=2 after x=1 was left outside --at (only ASCII letters started a NAME=VALUE item): argparse refused it."""
    for items in (["x=1", "θ=-2"], ["x=-1", "θ=2"], ["θ=-2", "x=1"]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["grad", "x*θ**2", "--json", "--at", *items])
        assert code == 0, err.getvalue()
        point = dict(item.split("=") for item in items)
        x, t = float(point["x"]), float(point["θ"])
        values = [r["value"] for r in json.loads(out.getvalue())["results"]]
        np.testing.assert_allclose(values, [t**2, 2 * x * t])


# -- check ---------------------------------------------------------------------------------------------------


def test_check_explains_the_notes_slip_and_exits_1(runs):
    out = _ok(runs["check_slip"], 1)
    assert "WRONG" in out and "6*a**3*b" in out and "-2*b" in out
    assert "3*a**3 - b**2" in out, "names the function the claim is the derivative of"
    out = _ok(runs["check_slip_equals"], 1)
    assert "correct 288, claimed -12" in out  # N2' at a=2, b=6
    assert "right" in _ok(runs["check_right"], 0)
    assert "right" in _ok(runs["check_list"], 0)
    data = _json(runs["check_json"], 1)
    assert data["ok"] is False and data["components"][0]["claimed"] == "-2*b"
    a, b = sp.symbols("a b", real=True)
    assert _same(data["components"][0]["correct"], sp.diff(3 * a**3 * b**2, b), ["a", "b"])
    assert _ok(runs["check_latex"], 1).strip() == r"\frac{\partial}{\partial b}\left(3 a^{3} b^{2}\right) \neq - 2 b"


# -- codegen and graph ----------------------------------------------------------------------------------------


def test_codegen_prints_the_source_sg_compile_generates(runs):
    x, y = sg.symbols("x y")
    f = x * sg.sin(y)
    expected = sg.compile(sg.gradient(f, [x, y]), inputs=[x, y]).source
    assert _ok(runs["codegen_numpy"]) == expected.rstrip("\n") + "\n"
    data = _json(runs["codegen_json"])
    assert data["backend"] == "numpy" and data["inputs"] == ["x", "y"] and data["what"] == "hessian"
    assert data["source"] == sg.compile(sg.hessian(f, [x, y]), inputs=[x, y]).source


@pytest.mark.parametrize("backend", ["c", "cuda"])
def test_codegen_prints_other_backends_without_their_compiler_or_gpu(runs, backend):
    x, y = sg.symbols("x y")
    f = x * sg.sin(y)
    outputs = sg.gradient(f, [x, y]) if backend == "cuda" else f
    expected = sg.compile(outputs, inputs=[x, y]).source_for(backend)
    out = _ok(runs[f"codegen_{backend}"])
    assert out == expected.rstrip("\n") + "\n"
    assert ("__global__" in out) == (backend == "cuda")


def test_graph_dot_is_the_graph_of_the_parsed_formula(runs):
    expected = graph(parse("exp(sin(x))*y").value, grad=True).to_dot()
    assert _ok(runs["graph_dot"]) == expected
    tmp = runs["_tmp"]
    assert "wrote" in runs["graph_file"].stderr and _ok(runs["graph_file"]) == ""
    assert (tmp / "g.dot").read_text(encoding="utf-8") == graph(parse("exp(sin(x))*y").value).to_dot()
    assert "-o FILE" in runs["graph_png_to_stdout"].stderr and runs["graph_png_to_stdout"].returncode == 2


def test_graph_svg_without_graphviz_says_dot_is_needed(runs):
    res = runs["graph_svg_no_dot"]
    _ok(res, 2)
    assert "Graphviz's `dot`" in res.stderr and not (runs["_tmp"] / "g.svg").exists()


# -- refusals and exit codes -------------------------------------------------------------------------------------


def test_formulas_are_never_executed(runs):
    for name in ("refused_call", "refused_at", "refused_claim"):
        res = runs[name]
        _ok(res, 2)
        assert "'__import__'" in res.stderr, res.stderr
    assert not (runs["_tmp"] / "PWNED").exists()
    assert "'.__class__'" in runs["refused_attribute"].stderr and runs["refused_attribute"].returncode == 2
    assert "'lambda'" in runs["refused_lambda"].stderr and runs["refused_lambda"].returncode == 2


def test_usage_errors_exit_2_with_a_message_and_no_traceback(runs):
    for name, message in [
        ("no_command", "required: COMMAND"),
        ("unknown_option", "unrecognized arguments: --bogus"),
        ("missing_value", "--at gives no value for y"),
        ("unknown_name", "'z', which is not a symbol of the formula"),
        ("list_for_grad", "one scalar formula"),
    ]:
        res = runs[name]
        _ok(res, 2)
        assert message in res.stderr, (name, res.stderr)
    out = _ok(runs["help"])
    assert all(c in out for c in ("grad", "hessian", "jacobian", "diff", "check", "codegen", "graph"))


def test_internal_errors_are_one_line_for_users_and_raise_under_debug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setitem(cli.COMMANDS, "grad", broken)
    monkeypatch.delenv("SYMGRAD_DEBUG", raising=False)
    assert cli.main(["grad", "x"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["grad", "x"])


def test_python_dash_m_symgrad_runs_the_same_main(runs):
    assert _ok(runs["module_version"]).strip() == f"symgrad {sg.__version__}"


def test_a_value_given_twice_in_at_is_refused(capsys):
    assert cli.main(["grad", "x**2 + y", "--at", "x=1", "x=2", "y=0"]) == cli.EXIT_USAGE
    assert "gives x twice" in capsys.readouterr().err  # the last value was silently kept
    assert cli.main(["grad", "x**2 + y", "--at", "x=1", "--at", "y=2"]) == cli.EXIT_OK  # --at given twice, names once
