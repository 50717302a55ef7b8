"""The backward graph the notes teach: grad_fn nodes linked by next_functions, AccumulateGrad at the leaves."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli.main import main
from symgrad.graph import autograd_name


def _labels(g) -> list[str]:
    return sorted(n.label for n in g.nodes)


def _next_functions(g) -> dict[str, list[str]]:
    label = {n.id: n.label for n in g.nodes}
    out: dict[str, list[str]] = {}
    for e in sorted(g.edges, key=lambda e: (e.source, e.index)):
        out.setdefault(label[e.source], []).append(label[e.target])
    return out


def test_the_notes_q_example_has_one_grad_fn_per_op_and_accumulate_grad_leaves():
    a, b = sg.symbols("a b")
    g = sg.graph(3 * a**3 - b**2, grad=True, style="autograd")
    assert _labels(g) == sorted(
        ["AddBackward0", "MulBackward0", "PowBackward0", "NegBackward0", "PowBackward0"]
        + ["AccumulateGrad\na", "AccumulateGrad\nb"]
    )
    nexts = _next_functions(g)
    assert sorted(nexts["AddBackward0"]) == ["MulBackward0", "NegBackward0"]
    assert nexts["MulBackward0"] == ["PowBackward0"] and nexts["NegBackward0"] == ["PowBackward0"]
    assert sorted(nexts["PowBackward0"]) == ["AccumulateGrad\na", "AccumulateGrad\nb"]
    assert [o.name for o in g.outputs] == ["f.grad_fn"]
    assert "out0 -> n0" in g.to_dot()  # the backward pass starts at the output's grad_fn


def test_constants_and_values_that_need_no_gradient_are_not_drawn():
    x, y = sg.symbols("x y")
    g = sg.graph(sg.exp(x) * sg.sin(y) + 2.5, grad=True, wrt=[x], style="autograd")
    labels = _labels(g)
    assert "SinBackward0" not in labels and "AccumulateGrad\ny" not in labels
    assert labels == ["AccumulateGrad\nx", "AddBackward0", "ExpBackward0", "MulBackward0"]
    assert all(not n.node.is_const for n in g.nodes)


def test_each_forward_node_is_one_grad_fn_even_when_shared():
    x = sg.symbols("x")
    s = sg.sin(x)
    g = sg.graph(s * s + s, grad=True, style="autograd")
    assert _labels(g).count("SinBackward0") == 1
    assert _labels(g).count("AccumulateGrad\nx") == 1


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda x: -x, "NegBackward0"),
        (lambda x: sg.sqrt(x), "SqrtBackward0"),
        (lambda x: 1 / x, "ReciprocalBackward0"),
        (lambda x: x**3, "PowBackward0"),
        (lambda x: x**x, "PowBackward1"),
        (lambda x: sg.tanh(x), "TanhBackward0"),
        (lambda x: sg.arctan2(x, 2.0), "Atan2Backward0"),
        (lambda x: sg.arcsinh(x), "AsinhBackward0"),  # PyTorch's torch.asinh & co.
        (lambda x: sg.arccosh(x), "AcoshBackward0"),
        (lambda x: sg.arctanh(x), "AtanhBackward0"),
        (lambda x: sg.log1p(x), "Log1PBackward0"),  # title-cased by PyTorch's code generator
        (lambda x: sg.expm1(x), "Expm1Backward0"),
        (lambda x: sg.logaddexp2(x, 1.0), "Logaddexp2Backward0"),
    ],
)
def test_grad_fn_names_follow_pytorch(build, name):
    x = sg.symbols("x")
    assert autograd_name(build(x)) == name


def test_functions_with_array_arguments_draw_one_leaf_per_element():
    g = sg.graph(lambda v: np.sum(v**2), grad=True, style="autograd", shapes=[(3,)])
    leaves = [n.label for n in g.nodes if n.kind == "leaf"]
    assert sorted(leaves) == [f"AccumulateGrad\nv[{i}]" for i in range(3)]


def test_style_errors_are_symgrad_errors():
    x = sg.symbols("x")
    with pytest.raises(sg.InputError, match="pass grad=True"):
        sg.graph(x * 2, style="autograd")
    with pytest.raises(sg.InputError, match="style must be one of"):
        sg.graph(x * 2, grad=True, style="torch")


def test_the_command_line_draws_it(capsys):
    assert main(["graph", "3*a**3 - b**2", "--grad", "--style", "autograd"]) == 0
    dot = capsys.readouterr().out
    assert "AccumulateGrad" in dot and "NegBackward0" in dot
    assert len(re.findall(r"label=\"PowBackward0\"", dot)) == 2
    assert main(["graph", "x*y", "--style", "autograd"]) == 2


def test_a_cut_backward_pass_draws_max_nodes_grad_fns_and_marks_only_real_cuts():
    x, y = sg.symbols("x y")
    e = x
    for i in range(30):  # every MulBackward0 has a constant operand, which autograd does not draw
        e = sg.sin(e) * (i + 2) + y
    full = sg.graph(e, grad=True, style="autograd")
    for limit in (5, 10, 40):
        g = sg.graph(e, grad=True, style="autograd", max_nodes=limit)
        assert len(g.nodes) == limit and g.total_nodes == len(full.nodes) and g.truncated
        drawn = {n.node for n in g.nodes}
        cut = {n.id for n in g.nodes if any(a not in drawn and not a.is_const for a in n.node.args)}
        assert set(re.findall(r"elided -> (n\d+)", g.to_dot())) == cut


def test_the_backward_pass_does_not_run_through_stop_gradient_or_comparisons():
    # x.detach() "will never require gradient" and x > 0 is a bool tensor: neither has a grad_fn
    x, y = sg.symbols("x y")
    g = sg.graph(sg.where(x > 0, x, 0.0) + sg.isnan(y) * y, grad=True, style="autograd")
    assert {k: sorted(v) for k, v in _next_functions(g).items()} == {
        "AddBackward0": ["MulBackward0", "WhereBackward0"],
        "WhereBackward0": ["AccumulateGrad\nx"],  # not the condition's
        "MulBackward0": ["AccumulateGrad\ny"],  # not isnan(y)'s
    }
    f = x + sg.stop_gradient(x * y)
    g = sg.graph(f, grad=True, style="autograd")
    assert _labels(g) == ["AccumulateGrad\nx", "AddBackward0"]
    assert sg.gradient(f, [y])[0].is_const and sg.gradient(f, [y])[0].value == 0  # no path to y: none drawn
    g = sg.graph(x * sg.sin(sg.stop_gradient(x)), grad=True, style="autograd")
    assert _next_functions(g) == {"MulBackward0": ["AccumulateGrad\nx"]}
