"""Pictures of the computational graph, drawn the way the course notes teach autograd.

``graph(f)`` gives a :class:`Graph`: each op node is labelled with its symbol
and an autograd-style backward name (``×`` / ``MulBackward``), symbols and
constants are drawn distinctly, and edges run from operands to the ops that
use them (the forward pass).  With ``grad=True`` the derivative graph is drawn
next to the value in a second cluster.  symgrad's IR is hash-consed, so a node
the derivatives reuse from the forward pass (``exp(x)`` in ``d exp(x)/dx``) *is*
the forward node: it is drawn once, outside both clusters, in its own colour,
with edges from both.

The DOT text is written here, so ``to_dot()`` needs nothing installed;
``render`` and Jupyter's SVG view run Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .api.transforms import program_of
from .diff.reverse import check_variables, gradient_nodes
from .errors import BackendError, InputError
from .ir.custom import op_of
from .ir.node import Node, free_symbols, toposort
from .ir.text import format_number
from .tracing.program import symbolic_outputs

MAX_NODES = 500
"""Graphs with more nodes are cut to the ones nearest the outputs: Graphviz takes minutes
on thousands of nodes, and such a picture cannot be read anyway."""

RENDER_FORMATS = ("svg", "png", "pdf", "dot")
_DOT_TIMEOUT_S = 120

_GLYPHS = {"add": "+", "mul": "×", "pow": "^", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_FILL = {"value": "#dbe9f6", "grad": "#f8d7da", "shared": "#ffd966", "leaf": "#d5f5d5"}
_SHAPE = {"op": 'shape=box, style="filled,rounded"', "symbol": "shape=ellipse, style=filled, penwidth=2"}
_SHAPE["const"] = 'shape=box, style="filled,dashed", fontsize=10'
_SHAPE["leaf"] = 'shape=box, style="filled"'
_CLUSTERS = (("value", "value (forward pass)"), ("grad", "derivatives (backward pass)"))


@dataclass(frozen=True)
class GraphNode:
    """One drawn node: ``kind`` is op/symbol/const, ``role`` is value/grad/shared."""

    id: str
    node: Node
    kind: str
    role: str
    label: str


@dataclass(frozen=True)
class GraphEdge:
    """Operand ``source`` flows into op ``target`` as its operand number ``index``."""

    source: str
    target: str
    index: int


@dataclass(frozen=True)
class GraphOutput:
    """A named result (``f``, ``∂f/∂x``) and the id of the node computing it."""

    name: str
    target: str
    role: str


def backward_name(op: str) -> str:
    """The autograd-style name of an op's backward node: ``mul`` -> ``MulBackward``."""
    return "".join(part.capitalize() for part in op.split("_")) + "Backward"


def _label(node: Node) -> tuple[str, str]:
    if node.op == "const":
        return "const", format_number(node.value)
    if node.op == "sym":
        return "symbol", node.name
    if not node.args:  # a named constant (sg.pi)
        return "const", op_of(node).name
    if node.op == "custom":  # a custom function (softmax[0], logsumexp) by its own name
        return "op", f"{node.value.label}\n{node.value.autograd_name}"
    return "op", f"{_GLYPHS.get(node.op, node.op)}\n{backward_name(node.op)}"


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'


class Graph:
    """A drawable computational graph: ``.nodes``, ``.edges``, ``.outputs``, ``.to_dot()``, ``.render()``."""

    def __init__(
        self,
        nodes: Sequence[GraphNode],
        edges: Sequence[GraphEdge],
        outputs: Sequence[GraphOutput],
        total_nodes: int,
        title: str | None = None,
        clustered: bool = False,
        style: str = "derivative",
        requires_grad: frozenset[Node] | None = None,
    ) -> None:
        self.style = style
        self.requires_grad = requires_grad  # autograd style: the only operands drawn (or cut)
        self.nodes = tuple(nodes)
        self.edges = tuple(edges)
        self.outputs = tuple(outputs)
        self.total_nodes = total_nodes
        self.title = title
        self.clustered = clustered

    @property
    def truncated(self) -> bool:
        """Whether some nodes were left out (the graph had more than ``max_nodes``)."""
        return len(self.nodes) < self.total_nodes

    def __repr__(self) -> str:
        kind = "backward pass" if self.style == "autograd" else "value and derivatives" if self.clustered else "value"
        return f"<symgrad.Graph of the {kind}: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    # -- DOT ---------------------------------------------------------------------------
    def to_dot(self) -> str:
        """The graph as Graphviz DOT text (written directly: Graphviz is not needed)."""
        lines = ["digraph symgrad {", "  graph [rankdir=TB, fontname=Helvetica, labelloc=b"]
        notes = self._notes()
        lines[-1] += f", label={_quote(chr(10).join(notes))}];" if notes else "];"
        lines += ["  node [fontname=Helvetica];", "  edge [arrowsize=0.7];"]
        if self.clustered:
            for role, caption in _CLUSTERS:
                lines.append(f"  subgraph cluster_{role} {{")
                lines.append(f"    label={_quote(caption)}; style=rounded; color=gray60;")
                lines += ["  " + s for s in self._node_lines(role)]
                lines.append("  }")
            lines += self._node_lines("shared")
        else:
            lines += self._node_lines(None)
        lines += self._edge_lines()
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _notes(self) -> list[str]:
        notes = [self.title] if self.title else []
        if self.clustered:
            notes.append("blue: value only; red: derivatives only; gold: shared by both (drawn once)")
        if self.truncated:
            notes.append(
                f"showing the {len(self.nodes)} nodes nearest the outputs of {self.total_nodes}; "
                "pass max_nodes= to draw more"
            )
        return notes

    def _node_lines(self, role: str | None) -> list[str]:
        """Declarations of the nodes (and output markers) of one role; ``None``: all of them."""
        lines = []
        for n in self.nodes:
            if role is None or n.role == role:
                lines.append(
                    f"  {n.id} [label={_quote(n.label)}, {_SHAPE[n.kind]}, fillcolor={_quote(_FILL[n.role])}];"
                )
        for i, out in enumerate(self.outputs):
            if role is None or out.role == role:
                lines.append(f"  out{i} [label={_quote(out.name)}, shape=plaintext, fontcolor=gray25];")
        return lines

    def _edge_lines(self) -> list[str]:
        ordered = {n.id for n in self.nodes if n.kind == "op" and _ordered_operands(n.node)}
        lines = []
        for e in self.edges:
            op_end = e.source if self.style == "autograd" else e.target  # autograd edges run op -> operand
            attrs = f" [label={_quote(str(e.index))}, fontsize=9]" if op_end in ordered else ""
            lines.append(f"  {e.source} -> {e.target}{attrs};")
        for i, out in enumerate(self.outputs):
            if self.style == "autograd":  # the backward pass starts at the output's grad_fn
                lines.append(f"  out{i} -> {out.target} [style=dashed, color=gray50];")
            else:
                lines.append(f"  {out.target} -> out{i} [style=dashed, color=gray50];")
        cut = self._cut_targets()
        if cut:
            lines.append(f"  elided [label={_quote('… nodes not drawn')}, shape=note, color=gray50];")
            lines += [f"  elided -> {target} [style=dotted, color=gray50];" for target in cut]
        return lines

    def _cut_targets(self) -> list[str]:
        """Ids of drawn nodes with operands that were left out of a truncated drawing."""
        if not self.truncated:
            return []
        drawn, needs = {n.node for n in self.nodes}, self.requires_grad
        return [n.id for n in self.nodes if any(a not in drawn and (needs is None or a in needs) for a in n.node.args)]

    # -- rendering ------------------------------------------------------------------------
    def render(self, path: str | Path, format: str | None = None) -> Path:
        """Write the picture to ``path`` (svg, png or pdf from its suffix, or ``format``) with Graphviz."""
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".")).lower()
        if fmt not in RENDER_FORMATS:
            raise InputError(
                f"cannot tell the picture format from {str(path)!r}: use a suffix or format= among "
                f"{', '.join(RENDER_FORMATS)}"
            )
        if not path.parent.is_dir():  # checked first: Graphviz would report it in its own words, after drawing
            raise InputError(f"cannot write {str(path)!r}: the directory {str(path.parent)!r} does not exist")
        if fmt == "dot":
            try:
                path.write_text(self.to_dot(), encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
            return path
        _run_dot(self.to_dot(), ["-T" + fmt, "-o", str(path)])
        return path

    def to_svg(self) -> str:
        """The picture as SVG text, drawn by Graphviz's ``dot`` (BackendError without it)."""
        return _run_dot(self.to_dot(), ["-Tsvg"])

    def _repr_svg_(self) -> str | None:
        """Jupyter's picture of the graph; ``None`` (the text repr is shown) without Graphviz."""
        if shutil.which("dot") is None:
            return None
        try:
            return self.to_svg()
        except BackendError:
            return None


def _ordered_operands(node: Node) -> bool:
    """Whether an op's operand order matters (so edges are numbered): ``pow``, ``where``, ``arctan2``…"""
    return len(node.args) > 1 and not op_of(node).commutative


def _run_dot(dot_text: str, arguments: list[str]) -> str:
    """Run Graphviz's ``dot`` on ``dot_text`` (an argument list, no shell) and return its stdout."""
    exe = shutil.which("dot")
    if exe is None:
        raise BackendError(
            "drawing this graph needs Graphviz's `dot` program, which is not on PATH: install Graphviz "
            "(apt install graphviz, brew install graphviz or conda install graphviz), or write the DOT text "
            "with .to_dot() / format 'dot', which needs nothing installed"
        )
    try:
        result = subprocess.run(
            [exe, *arguments],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=_DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"Graphviz's dot took more than {_DOT_TIMEOUT_S} s; draw fewer nodes (max_nodes=)") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise BackendError(f"Graphviz's dot failed (exit status {result.returncode}): {message}")
    return result.stdout.decode("utf-8", "replace")


# -- building a Graph -------------------------------------------------------------------------


def _is_function(obj) -> bool:
    return callable(obj) and not isinstance(obj, (Node, np.ndarray))


def _named_leaves(outputs, name: str, out: list[tuple[str, Node]]) -> None:
    """Append ``(name, node)`` for every scalar of an output structure (dicts, tuples, arrays, nodes)."""
    if isinstance(outputs, dict):  # a pytree output, as the transforms take it: f['loss'], as JAX's keystr
        for key, o in outputs.items():
            _named_leaves(o, f"{name}[{key!r}]", out)
    elif isinstance(outputs, (tuple, list)):
        for i, o in enumerate(outputs):
            _named_leaves(o, f"{name}[{i}]", out)
    elif outputs is None:  # a traced None: no leaves, nothing to draw
        return
    elif isinstance(outputs, np.ndarray) and outputs.shape != ():
        for idx in np.ndindex(*outputs.shape):
            out.append((f"{name}[{', '.join(map(str, idx))}]", outputs[idx]))
    else:
        out.append((name, outputs[()] if isinstance(outputs, np.ndarray) else outputs))


def _value_outputs(f_or_expr, shapes) -> tuple[list[tuple[str, Node]], dict[str, list[Node]]]:
    """The named scalar outputs to draw, and the traced arguments' symbols by name (for ``wrt``)."""
    leaves: list[tuple[str, Node]] = []
    if _is_function(f_or_expr):
        program = program_of(f_or_expr, shapes)
        name = getattr(f_or_expr, "__name__", "f")
        _named_leaves(program.outputs, "f" if not name.isidentifier() else name, leaves)
        return leaves, {a.name: list(a.symbols) for a in program.args}
    if shapes is not None:
        raise InputError("shapes= is for a traced function; an expression's symbols already have their shapes")
    _named_leaves(symbolic_outputs(f_or_expr), "f", leaves)
    return leaves, {}


def _resolve_wrt(wrt, roots: list[Node], arguments: dict[str, list[Node]]) -> list[Node]:
    """The variables to differentiate with respect to: symbols, array symbols, or names."""
    if wrt is None:
        return sorted(free_symbols(roots), key=lambda s: s.value)  # x before y, a[0] before a[1]
    if isinstance(wrt, str):
        wrt = wrt.replace(",", " ").split()
    items = [wrt] if isinstance(wrt, (Node, np.ndarray)) else list(wrt)
    variables: list[Node] = []
    for item in items:
        if isinstance(item, str):
            variables += _symbols_named(item, roots, arguments)
        else:
            variables += list(np.asarray(item, dtype=object).reshape(-1))
    check_variables(variables)
    return variables


def _symbols_named(name: str, roots: list[Node], arguments: dict[str, list[Node]]) -> list[Node]:
    if name in arguments:
        return arguments[name]
    free = free_symbols(roots)
    found = [s for s in free if s.name == name or s.value[0] == name]
    if not found:
        known = ", ".join(sorted({s.name for s in free})) or "none"
        raise InputError(f"wrt names {name!r}, which is not a symbol of the graph (its symbols: {known})")
    return found


def _derivative_outputs(values: list[tuple[str, Node]], variables: list[Node]) -> list[tuple[str, Node]]:
    """``(∂name/∂v, node)`` for each value output and variable: one reverse sweep per output."""
    out = []
    for name, node in values:
        for v, d in zip(variables, gradient_nodes(node, variables)):
            out.append((f"∂{name}/∂{v.name}", d))
    return out


def _nearest(roots: Iterable[Node], limit: int, follow: set[Node] | None = None) -> set[Node]:
    """Up to ``limit`` nodes, breadth first from the roots (what a truncated picture keeps).

    ``follow``: the only operands walked to (the autograd picture's, which draws no
    constants): nodes that are not drawn must not use up the ``limit``.
    """
    chosen: set[Node] = set()
    queue = deque(roots)
    while queue and len(chosen) < limit:
        node = queue.popleft()
        if node not in chosen:
            chosen.add(node)
            queue.extend(node.args if follow is None else (a for a in node.args if a in follow))
    return chosen


def _graph_node(node: Node, node_id: str, value_set: set[Node], grad_set: set[Node]) -> GraphNode:
    """A drawn node; its role says whether the value, the derivatives or both use it."""
    kind, label = _label(node)
    role = ("shared" if node in grad_set else "value") if node in value_set else "grad"
    return GraphNode(node_id, node, kind, role, label)


STYLES = ("derivative", "autograd")


def graph(
    f_or_expr,
    *,
    grad: bool = False,
    wrt=None,
    shapes=None,
    max_nodes: int = MAX_NODES,
    title: str | None = None,
    style: str = "derivative",
) -> Graph:
    """The computational graph of an expression (or array/tuple of them) or of a traced function.

    ``grad=True`` adds the derivatives with respect to ``wrt`` (symbols, array symbols or
    names; default: every free symbol).  ``style="derivative"`` (the default) draws the
    derivative graph in a second cluster, nodes shared by value and derivatives drawn
    once; ``style="autograd"`` draws the backward pass the way PyTorch's autograd builds
    it: one ``grad_fn`` node per forward op (``MulBackward0``, ``AddBackward0``, …) linked
    by ``next_functions`` towards the leaves, an ``AccumulateGrad`` node at each input.
    ``shapes`` declares a function's array arguments, as in ``sg.grad``.  At most
    ``max_nodes`` nodes are drawn, those nearest the outputs.
    """
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1:
        raise InputError(f"max_nodes must be a positive int, got {max_nodes!r}")
    if style not in STYLES:
        raise InputError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
    if style == "autograd" and not grad:
        raise InputError("style='autograd' draws the backward pass: pass grad=True with it")
    values, arguments = _value_outputs(f_or_expr, shapes)
    value_roots = [n for _, n in values]
    if style == "autograd":
        return _autograd_graph(values, _resolve_wrt(wrt, value_roots, arguments), max_nodes, title)
    derivatives = _derivative_outputs(values, _resolve_wrt(wrt, value_roots, arguments)) if grad else []
    grad_roots = [n for _, n in derivatives]
    order = toposort(value_roots + grad_roots)
    if len(order) > max_nodes:
        keep = _nearest(value_roots + grad_roots, max_nodes)
        drawn = [n for n in order if n in keep]
    else:
        drawn = order
    value_set, grad_set = set(toposort(value_roots)), set(toposort(grad_roots))
    ids = {node: f"n{i}" for i, node in enumerate(drawn)}
    nodes = [_graph_node(n, ids[n], value_set, grad_set) for n in drawn]
    edges = [GraphEdge(ids[a], ids[n], i) for n in drawn for i, a in enumerate(n.args) if a in ids]
    outputs = [GraphOutput(name, ids[n], "value") for name, n in values if n in ids]
    outputs += [GraphOutput(name, ids[n], "grad") for name, n in derivatives if n in ids]
    return Graph(nodes, edges, outputs, len(order), title, clustered=grad)


# -- the backward pass as autograd builds it --------------------------------------------------------

# PyTorch's names for the grad_fn of an op where they differ from "<Op>Backward0"
_AUTOGRAD_NAMES = {"arctan2": "Atan2Backward0", "arcsin": "AsinBackward0", "arccos": "AcosBackward0"}
_AUTOGRAD_NAMES |= {"arctan": "AtanBackward0", "stop_gradient": "DetachBackward0"}
_AUTOGRAD_NAMES |= {"arcsinh": "AsinhBackward0", "arccosh": "AcoshBackward0", "arctanh": "AtanhBackward0"}


def autograd_name(node: Node) -> str:
    """The ``grad_fn`` PyTorch would give the tensor ``node`` computes: ``x*y`` -> ``MulBackward0``."""
    if node.op == "mul" and len(node.args) == 2 and node.args[0].op == "const" and node.args[0].value == -1:
        return "NegBackward0"
    if node.op == "pow" and node.args[1].op == "const":
        special = {0.5: "SqrtBackward0", -1: "ReciprocalBackward0"}
        return special.get(float(node.args[1].value), "PowBackward0")
    if node.op == "pow":
        return "PowBackward1"  # a tensor to a tensor power
    if node.op in _AUTOGRAD_NAMES:
        return _AUTOGRAD_NAMES[node.op]
    if node.op == "custom":  # <Name>Backward, as PyTorch names a custom autograd.Function's node
        return node.value.autograd_name
    # title-cased as PyTorch's generated names are: a letter after a digit is upper case (Log1PBackward0)
    return "".join(part.title() for part in node.op.split("_")) + "Backward0"


def _has_grad_fn(node: Node) -> bool:
    """Whether autograd gives the op's result a ``grad_fn`` once an operand requires grad.

    Not a comparison or class test (``x > 0``, ``isnan``: a bool tensor) nor a
    ``stop_gradient`` (``x.detach()``, which "will never require gradient"): the
    backward pass does not run through them, so drawing them would show a
    gradient path to the leaves that neither PyTorch nor symgrad's derivative has.
    """
    return node.op not in ("const", "sym", "stop_gradient") and not op_of(node).condition


def _autograd_graph(values: list[tuple[str, Node]], variables: list[Node], max_nodes: int, title) -> Graph:
    """One grad_fn node per op that depends on a variable, edges along next_functions, AccumulateGrad leaves."""
    wanted = set(variables)
    roots = [n for _, n in values]
    order = toposort(roots)
    needs: set[Node] = set()  # the nodes that require grad (depend on a variable)
    for node in order:
        if node in wanted or (_has_grad_fn(node) and any(a in needs for a in node.args)):
            needs.add(node)
    starts = [r for r in roots if r in needs]
    reached = _nearest(starts, len(order), needs)  # not x*y in stop_gradient(x*y): the walk never gets there
    chosen = [n for n in reversed(order) if n in reached]  # outputs first, as autograd walks them
    if len(chosen) > max_nodes:
        keep = _nearest(starts, max_nodes, needs)
        drawn = [n for n in chosen if n in keep]
    else:
        drawn = chosen
    ids = {node: f"n{i}" for i, node in enumerate(drawn)}
    nodes = []
    for node in drawn:
        if node.op == "sym":
            nodes.append(GraphNode(ids[node], node, "leaf", "leaf", f"AccumulateGrad\n{node.name}"))
        else:
            nodes.append(GraphNode(ids[node], node, "op", "grad", autograd_name(node)))
    edges = []
    for node in drawn:  # next_functions: from a grad_fn to the grad_fns (or AccumulateGrad) of its inputs
        if node.op == "sym":
            continue
        nexts = [a for a in dict.fromkeys(node.args) if a in needs and a in ids]
        edges += [GraphEdge(ids[node], ids[a], i) for i, a in enumerate(nexts)]
    outputs = [GraphOutput(f"{name}.grad_fn", ids[n], "grad") for name, n in values if n in ids]
    title = title or "backward pass (autograd)"
    return Graph(nodes, edges, outputs, len(chosen), title, style="autograd", requires_grad=frozenset(needs))
