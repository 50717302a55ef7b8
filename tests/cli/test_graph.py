"""Pictures of the computational graph: symgrad.graph (DOT written without Graphviz, render through `dot`)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import time

import numpy as np
import pytest

import symgrad as sg
from symgrad.graph import Graph, backward_name, graph
from symgrad.ir import symbol, toposort

QUOTED = r'"((?:[^"\\]|\\.)*)"'


def _node_lines(dot: str) -> dict[str, str]:
    """Node id -> its declaration line (IR nodes only: n0, n1, ...)."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\s*(n\d+) \[.*$", dot, re.MULTILINE)}


def _edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(n\d+) -> (n\d+)", dot, re.MULTILINE)


def _cluster(dot: str, role: str) -> str:
    match = re.search(rf"subgraph cluster_{role} \{{\n(.*?)\n  \}}", dot, re.DOTALL)
    assert match, f"no cluster_{role}"
    return match.group(1)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def test_dot_has_one_node_per_ir_node_and_one_edge_per_operand():
    x, y = sg.symbols("x y")
    f = sg.sin(x * y) + x**2
    pic = graph(f)
    order = toposort([f])
    assert len(pic.nodes) == len(order) == pic.total_nodes
    assert len(pic.edges) == sum(len(n.args) for n in order)
    dot = pic.to_dot()
    assert dot.startswith("digraph symgrad {") and dot.rstrip().endswith("}")
    assert len(_node_lines(dot)) == len(order)
    assert len(_edges(dot)) == len(pic.edges)
    ids = {g.node: g.id for g in pic.nodes}
    assert {(e.source, e.target) for e in pic.edges} == {(ids[a], ids[n]) for n in order for a in n.args}
    assert not pic.truncated and "subgraph" not in dot


def test_labels_name_the_backward_function_and_tell_leaves_from_constants():
    x, y = sg.symbols("x y")
    pic = graph(3 * sg.sin(x) * y + sg.exp(x))
    by_kind = {kind: [n for n in pic.nodes if n.kind == kind] for kind in ("op", "symbol", "const")}
    assert sorted(n.label for n in by_kind["symbol"]) == ["x", "y"]
    assert [n.label for n in by_kind["const"]] == ["3"]
    op_labels = {n.label for n in by_kind["op"]}
    assert {"×\nMulBackward", "+\nAddBackward", "sin\nSinBackward", "exp\nExpBackward"} <= op_labels
    dot = pic.to_dot()
    shapes = {n.kind: re.search(r"shape=(\w+)", _node_lines(dot)[n.id]).group(1) for n in pic.nodes}
    assert shapes["symbol"] == "ellipse" and "dashed" in _node_lines(dot)[by_kind["const"][0].id]
    assert backward_name("stop_gradient") == "StopGradientBackward"


def test_the_output_is_marked_and_operand_order_is_shown_where_it_matters():
    x, y = sg.symbols("x y")
    pic = graph(x**y)
    dot = pic.to_dot()
    assert [o.name for o in pic.outputs] == ["f"]
    assert re.search(r'out0 \[label="f"', dot)
    pow_id = next(n.id for n in pic.nodes if n.node.op == "pow")
    assert re.findall(rf"(n\d+) -> {pow_id} \[label=\"(\d)\"", dot) == [
        (next(n.id for n in pic.nodes if n.label == "x"), "0"),
        (next(n.id for n in pic.nodes if n.label == "y"), "1"),
    ]


def test_grad_draws_shared_nodes_once_outside_both_clusters_with_edges_from_both():
    x, y = sg.symbols("x y")
    f = sg.exp(sg.sin(x)) * y  # df/dy = exp(sin(x)) is the forward node itself
    pic = graph(f, grad=True)
    e = sg.exp(sg.sin(x))
    shared = next(n for n in pic.nodes if n.node is e)
    assert shared.role == "shared"
    dot = pic.to_dot()
    assert len(re.findall(rf"^\s*{shared.id} \[", dot, re.MULTILINE)) == 1
    value_block, grad_block = _cluster(dot, "value"), _cluster(dot, "grad")
    assert f"{shared.id} [" not in value_block and f"{shared.id} [" not in grad_block
    value_ids = set(re.findall(r"^\s*(n\d+) \[", value_block, re.MULTILINE))
    grad_ids = set(re.findall(r"^\s*(n\d+) \[", grad_block, re.MULTILINE))
    consumers = {t for s, t in _edges(dot) if s == shared.id}
    assert consumers & value_ids and consumers & grad_ids, "edges from both clusters"
    assert "#ffd966" in _node_lines(dot)[shared.id]
    assert {o.name for o in pic.outputs} == {"f", "∂f/∂x", "∂f/∂y"}
    assert next(o for o in pic.outputs if o.name == "∂f/∂y").target == shared.id


def test_grad_nodes_are_symgrads_gradient_and_roles_partition_the_graph():
    x, y = sg.symbols("x y")
    f = x**3 * y + sg.log(y)
    pic = graph(f, grad=True, wrt=[x])
    (dfdx,) = sg.gradient(f, [x])
    roots = {n.node for n in pic.nodes}
    assert set(toposort([f, dfdx])) == roots
    for n in pic.nodes:
        in_value, in_grad = n.node in set(toposort([f])), n.node in set(toposort([dfdx]))
        assert n.role == {(True, True): "shared", (True, False): "value", (False, True): "grad"}[(in_value, in_grad)]
    assert [o.name for o in pic.outputs] == ["f", "∂f/∂x"]


def test_traced_functions_and_array_outputs():
    pic = graph(lambda a, b: 3 * a**3 - b**2, shapes={"a": (2,), "b": (2,)}, grad=True, wrt="b")
    names = [o.name for o in pic.outputs]
    assert names[:2] == ["f[0]", "f[1]"]
    assert "∂f[0]/∂b[0]" in names and "∂f[1]/∂b[1]" in names and len(names) == 2 + 4
    with pytest.raises(sg.InputError, match="not a symbol of the graph"):
        graph(sg.symbols("x") ** 2, grad=True, wrt="z")
    with pytest.raises(sg.InputError, match="shapes= is for a traced function"):
        graph(sg.symbols("x"), shapes={"x": 2})


def test_labels_and_titles_are_escaped_for_dot():
    weird = symbol('a"b\\c')
    pic = graph(sg.sin(weird), title='say "hi"\nback\\slash')
    dot = pic.to_dot()
    for line in dot.splitlines():  # every quote is either a delimiter or escaped
        stripped = re.sub(QUOTED, "", line)
        assert '"' not in stripped, line
    labels = [_unescape(m) for m in re.findall(rf"label={QUOTED}", dot)]
    assert 'a"b\\c' in labels
    assert any(lab.startswith('say "hi"\nback\\slash') for lab in labels)


def test_big_graphs_are_cut_with_a_note_instead_of_hanging():
    x = sg.symbols("x")
    e = x
    for i in range(5_000):  # a 10,000-node chain: walks must be iterative (recursion would fail)
        e = sg.sin(e) + i
    start = time.perf_counter()
    pic = graph(e, max_nodes=100)
    dot = pic.to_dot()
    assert time.perf_counter() - start < 10
    assert len(pic.nodes) == 100 and pic.truncated and pic.total_nodes > 10_000
    assert "showing the 100 nodes nearest the outputs of" in dot
    assert re.search(r"elided -> n\d+", dot)
    assert len(_node_lines(dot)) == 100
    with pytest.raises(sg.InputError):
        graph(x, max_nodes=0)


def test_render_without_dot_raises_backend_error_saying_graphviz_is_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no `dot`
    pic = graph(sg.symbols("x") ** 2)
    with pytest.raises(sg.BackendError, match=r"Graphviz's `dot`.*not on PATH"):
        pic.render(tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    assert pic._repr_svg_() is None
    out = pic.render(tmp_path / "g.dot")  # DOT text needs nothing installed
    assert out.read_text(encoding="utf-8") == pic.to_dot()
    with pytest.raises(sg.InputError, match="format"):
        pic.render(tmp_path / "g.bmp")


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for dot")
def test_render_runs_dot_with_an_argument_list_and_reports_its_failure(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    log = tmp_path / "args.txt"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{log}"\n'
        'if [ "$1" = "-Tpng" ]; then echo "Error: syntax error in line 1" >&2; exit 3; fi\n'
        'if [ "$2" = "-o" ]; then cat > "$3"; else cat; fi\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    pic = graph(sg.symbols("x") * 2)
    target = tmp_path / "picture; rm -rf ~.svg"  # a shell would split this: an argument list must not
    assert pic.render(target) == target
    assert log.read_text().splitlines() == ["-Tsvg", "-o", str(target)]
    assert target.read_text(encoding="utf-8") == pic.to_dot()  # the fake dot copies its input
    assert pic._repr_svg_() == pic.to_dot()
    with pytest.raises(sg.BackendError, match="exit status 3.*syntax error"):
        pic.render(tmp_path / "g.png")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_with_graphviz(tmp_path):
    x, y = sg.symbols("x y")
    pic = graph(sg.exp(sg.sin(x)) * y, grad=True)
    out = pic.render(tmp_path / "g.svg")
    assert "<svg" in out.read_text(encoding="utf-8")
    assert "<svg" in pic._repr_svg_()


def test_graph_repr_and_node_latex():
    x = sg.symbols("x")
    assert isinstance(graph(x**2), Graph) and "2 nodes" not in repr(graph(x**2))
    assert repr(graph(x**2)).startswith("<symgrad.Graph of the value: 3 nodes")
    assert (x**2)._repr_latex_() == "$" + sg.latex(x**2) + "$" == "$x^{2}$"
    assert sg.sin(x)._repr_latex_() == r"$\sin{\left(x \right)}$"
    np.testing.assert_equal(len(graph(np.array([x, x**2], dtype=object)).outputs), 2)


def test_dict_outputs_are_drawn_as_the_transforms_take_them():
    x, y = sg.symbols("x y")
    out = {"loss": sg.sin(x) * y, "aux": (x**2,)}
    pic = graph(lambda a, b: {"loss": sg.sin(a) * b, "aux": (a**2, None)}, grad=True, wrt="a")
    assert [o.name for o in pic.outputs] == ["f['loss']", "f['aux'][0]", "∂f['loss']/∂a", "∂f['aux'][0]/∂a"]
    pic = graph(out, grad=True, wrt=[x])
    roots = [out["loss"], out["aux"][0]] + [sg.gradient(e, [x])[0] for e in (out["loss"], out["aux"][0])]
    assert {n.node for n in pic.nodes} == set(toposort(roots))
    ids = {n.id: n.node for n in pic.nodes}
    assert [ids[o.target] for o in pic.outputs] == roots
    backward = graph(out, grad=True, style="autograd")
    assert [o.name for o in backward.outputs] == ["f['loss'].grad_fn", "f['aux'][0].grad_fn"]
