"""The op table is the one place an op is defined: a walker checks that every entry is whole.

For each entry of :data:`symgrad.ir.ops.OPS` the walker checks every spelling
(text, numpy, Python scalar, C, CUDA) by running it against the entry's numpy
reference, the sympy round trip (node -> sympy -> node, numerically), the
formula parser's name and aliases, the ``sg.`` export, the ufunc mapping (and
that a ufunc numpy has under the op's name is mapped), and its partials against
central finite differences.  Each problem is reported with the op's name and the
missing piece, so an op cannot ship half supported; a deliberately broken op
registered in the table proves the walker notices.
"""

from __future__ import annotations

import re
import shutil
import sys

import numpy as np
import pytest
import sympy as sp
from oracle import op_operands, op_points

import symgrad as sg
from symgrad import formula
from symgrad.codegen.csource import generate_native
from symgrad.errors import SymgradError
from symgrad.ir import builders as B
from symgrad.ir import ops
from symgrad.ir.array import symbolic_array
from symgrad.ir.evaluate import evaluate
from symgrad.ir.node import Node, _UfuncMethod, symbol
from symgrad.ir.ops import OPS, Op
from symgrad.sympy_bridge import from_sympy, to_sympy

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # self-checks off-domain
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
HAS_CXX = shutil.which("c++") is not None or shutil.which("g++") is not None
N_POINTS = 3
_BUILDERS = {"add": B.add, "mul": B.mul, "pow": B.pow}


def apply(op: Op, *args):
    """The op applied to nodes, through the simplifying builders (the way every layer builds it)."""
    return _BUILDERS.get(op.name, lambda *a: B.call(op.name, *a))(*args)


def reference(op: Op, pts: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(op.ref(*pts), dtype=float), pts.shape[1:])


def _close(got, want, rtol=1e-12, atol=1e-12) -> bool:
    got = np.broadcast_to(np.asarray(got, dtype=float), np.shape(want))
    return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


class Walk:
    """The operands, nodes and points of the ops walked, and the problems found, by op name."""

    def __init__(self, names: list[str]) -> None:
        self.ops = [OPS[n] for n in names]
        self.problems: dict[str, list[str]] = {n: [] for n in names}
        self.syms = {op.name: [symbol(f"{op.name}_{i}") for i in range(op_operands(op))] for op in self.ops}
        self.nodes = {op.name: apply(op, *self.syms[op.name]) for op in self.ops}
        self.points = {op.name: op_points(op, N_POINTS) for op in self.ops}
        self.want = {op.name: reference(op, self.points[op.name]) for op in self.ops}

    def report(self, op: Op, piece: str) -> None:
        self.problems[op.name].append(f"{op.name}: {piece}")

    @property
    def outputs(self) -> list:
        return [self.nodes[op.name] for op in self.ops]

    @property
    def inputs(self) -> list:
        return [s for op in self.ops for s in self.syms[op.name]]

    def columns(self) -> list[np.ndarray]:
        return [self.points[op.name][i] for op in self.ops for i in range(op_operands(op))]


# -- the checks, each naming the op and the piece ---------------------------------------------


def check_spellings(w: Walk, op: Op) -> None:
    if op.operator in ("+", "*", "**"):
        return  # spelled by the printer's hooks, checked by running the backends below
    for field in ("text", "numpy", "python", "cuda"):
        if not getattr(op, field):
            w.report(op, f"no {field} spelling")
    names = {h.name for h in op.helpers}
    for field, pattern in (("numpy", r"\b(_\w+)\("), ("python", r"\b(_\w+)\("), ("cuda", r"\b(sg_\w+)\(")):
        for called in re.findall(pattern, getattr(op, field)):
            if called not in names and called != "_m":
                w.report(op, f"its {field} spelling calls {called}, which none of its helpers defines")
    for h in op.helpers:
        if h.backend == "python" and ops.SCALAR_NAMESPACE.get(h.name) is not h.code:
            w.report(op, f"its Python helper {h.name} is not in the generated code's namespace")
        if h.backend == "c" and h.code not in ops.c_helpers([op.name]):
            w.report(op, f"its C helper {h.name} is not emitted for it")


def check_backends(w: Walk) -> None:
    """Each backend on every op at once (one compile per backend); a failing build is retried op by op."""
    for what, run in BACKENDS:
        try:
            compare(w, what, run(w))
        except SymgradError as exc:
            if len(w.ops) == 1:
                w.report(w.ops[0], f"the {what} fails: {exc}")
                continue
            for op in w.ops:
                single = Walk([op.name])
                check_backends_one(single, what, run)
                w.problems[op.name] += single.problems[op.name]


def check_backends_one(w: Walk, what: str, run) -> None:
    try:
        compare(w, what, run(w))
    except SymgradError as exc:
        w.report(w.ops[0], f"the {what} fails: {exc}")


def compare(w: Walk, what: str, results) -> None:
    for op, got in zip(w.ops, results):
        if not _close(got, w.want[op.name]):
            w.report(op, f"the {what} gives {np.asarray(got)} where the numpy reference gives {w.want[op.name]}")


def _numpy_kernel(w: Walk):
    return sg.compile(w.outputs, inputs=w.inputs)(*w.columns())


def _python_path(w: Walk):
    fn = sg.compile(w.outputs, inputs=w.inputs)
    cols = w.columns()
    per_point = [fn(*(float(c[k]) for c in cols)) for k in range(N_POINTS)]
    return list(zip(*per_point))


def _c_kernel(w: Walk):
    return sg.compile(w.outputs, inputs=w.inputs, backend="c")(*w.columns())


def _cuda_kernel(w: Walk):
    from symgrad.backends.c import EmulatedCudaKernel

    slots = [o for o in w.outputs if o.op != "const"]
    kernel = generate_native(w.inputs, slots, "float64", "cuda")
    rows = [np.empty(N_POINTS) for _ in kernel.outputs]
    EmulatedCudaKernel(kernel, grid=2, block=2)([np.ascontiguousarray(c) for c in w.columns()], rows, N_POINTS)
    got = dict(zip(kernel.outputs, rows))
    return [got.get(o, o) for o in w.outputs]


BACKENDS = [("numpy spelling", _numpy_kernel), ("Python scalar spelling", _python_path)]
BACKENDS += [("C spelling", _c_kernel)] if HAS_CC else []
BACKENDS += [("CUDA spelling (emulated on the CPU)", _cuda_kernel)] if HAS_CXX else []


def _sympy_value(expr, syms, pts) -> np.ndarray:
    sym = [sp.Symbol(s.name, real=True) for s in syms]
    return np.array([float(expr.subs(dict(zip(sym, pts[:, k]))).evalf(30)) for k in range(pts.shape[1])])


def check_sympy(w: Walk, op: Op) -> None:
    syms, pts, want, node = w.syms[op.name], w.points[op.name], w.want[op.name], w.nodes[op.name]
    if op.sympy is None:
        w.report(op, "no sympy constructor (sg.simplify, sg.latex and the checker would fail on it)")
        return
    try:
        expr = to_sympy(node)
        if not _close(_sympy_value(expr, syms, pts), want, rtol=1e-10):
            w.report(op, f"its sympy form {expr} does not evaluate to the numpy reference")
        back = from_sympy(expr)
        if not _close(evaluate([back], dict(zip(syms, pts)))[0], want, rtol=1e-10):
            w.report(op, f"the sympy round trip gives {back}, which does not evaluate to the reference")
    except (SymgradError, TypeError, ValueError) as exc:
        w.report(op, f"the sympy round trip fails: {type(exc).__name__}: {exc}")
    for name in op.sympy_types:
        cls = getattr(sp, name, None)
        if cls is None:
            w.report(op, f"sympy has no class {name}")
            continue
        got = from_sympy(cls(*(sp.Symbol(s.name, real=True) for s in syms)))
        if not _close(evaluate([got], dict(zip(syms, pts)))[0], want, rtol=1e-10):
            w.report(op, f"sympy's {name} does not come back as the op")


def check_names(w: Walk, op: Op) -> None:
    syms, node = w.syms[op.name], w.nodes[op.name]
    if not op.public:
        if not op.operator:
            w.report(op, "neither a public function (public=) nor an operator (operator=)")
        return
    fn = getattr(sg, op.public, None)
    if fn is None or op.public not in sg.__all__:
        w.report(op, f"no sg.{op.public} export")
    elif fn(*syms) is not node:
        w.report(op, f"sg.{op.public} does not build the op")
    spec = formula.FUNCTIONS.get(op.public)
    if spec is None or not spec.min_args <= op_operands(op) <= spec.max_args:
        w.report(op, f"the formula parser does not know {op.public}() with {op_operands(op)} operand(s)")
    for name in (op.public, *op.aliases):
        if name != op.public and formula.ALIASES.get(name) != op.public:
            w.report(op, f"the formula parser does not know the alias {name}")
            continue
        text = f"{name}({', '.join(s.name for s in syms)})"
        try:
            parsed = sg.parse_formula(text).value
        except SymgradError as exc:
            w.report(op, f"the formula {text!r} fails: {exc}")
            continue
        if parsed is not node:
            w.report(op, f"the formula {text!r} gives {parsed}, not the op")


def _find_ufunc(name: str):
    found = getattr(np, name, None)
    if isinstance(found, np.ufunc):
        return found
    special = sys.modules.get("scipy.special")
    if special is None:
        try:
            from scipy import special
        except ImportError:
            return None
    found = getattr(special, name, None)
    return found if isinstance(found, np.ufunc) else None


def check_ufuncs(w: Walk, op: Op) -> None:
    syms, node, pts = w.syms[op.name], w.nodes[op.name], w.points[op.name]
    numpy_own = getattr(np, op.public or op.name, None)
    if isinstance(numpy_own, np.ufunc) and numpy_own.__name__ not in op.ufuncs:
        w.report(op, f"numpy has the ufunc {numpy_own.__name__} but the table does not map it (ufuncs=)")
    for name in op.ufuncs:
        ufunc = _find_ufunc(name)
        if ufunc is None:
            continue  # scipy.special's, without scipy installed
        try:
            got = ufunc(*syms)
            if got is not node and not _close(evaluate([B.as_node(got)], dict(zip(syms, pts)))[0], w.want[op.name]):
                w.report(op, f"the ufunc {name} on symbols gives {got}, not the op")
            arrays = [np.array([s, s], dtype=object) for s in syms]
            kinds = [("symgrad's arrays", [symbolic_array(a) for a in arrays])]
            if isinstance(getattr(Node, name, None), _UfuncMethod):  # numpy's loop calls x.<name>()
                kinds.append(("plain object arrays", arrays))
            for kind, args in kinds:
                if not all(v is node for v in np.ravel(ufunc(*args))):
                    w.report(op, f"the ufunc {name} on {kind} of symbols does not give the op elementwise")
        except (SymgradError, TypeError, AttributeError) as exc:
            w.report(op, f"the ufunc {name} fails on symbols: {type(exc).__name__}: {exc}")


def check_partials(w: Walk, op: Op) -> None:
    syms, node, pts = w.syms[op.name], w.nodes[op.name], w.points[op.name]
    partials = op.partials(B, tuple(syms), node)
    if len(partials) != op_operands(op):
        w.report(op, f"{len(partials)} partials for {op_operands(op)} operands")
        return
    values = dict(zip(syms, pts))
    for i, partial in enumerate(partials):
        if partial.op == "const" and partial.value == 0:
            continue  # declared zero (comparisons, sign, stop_gradient, a select's condition)
        got = np.broadcast_to(evaluate([partial], values)[0], pts.shape[1:])
        h = 1e-6 * (1 + np.abs(pts[i]))
        up, down = pts.copy(), pts.copy()
        up[i] += h
        down[i] -= h
        fd = (reference(op, up) - reference(op, down)) / (2 * h)
        if not _close(got, fd, rtol=1e-6, atol=1e-7):
            w.report(op, f"partial {i} ({partial}) gives {got}, central differences {fd}")


def walk(names: list[str]) -> dict[str, list[str]]:
    """Every problem of the named entries, by op name (empty lists: the entries are whole)."""
    w = Walk(names)
    with np.errstate(all="ignore"):  # compiled objects verify themselves at random points, some off-domain
        for op in w.ops:
            for check in (check_spellings, check_sympy, check_names, check_ufuncs, check_partials):
                check(w, op)
        check_backends(w)
    return w.problems


# -- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_problems() -> dict[str, list[str]]:
    return walk(list(OPS))


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_table_entry_is_whole(name, table_problems):
    assert table_problems[name] == []


def _broken(**changes) -> Op:
    """A copy of ``sin`` under another name, with ``changes`` applied."""
    fields = {f: getattr(OPS["sin"], f) for f in Op.__dataclass_fields__}
    fields.update(name="broken", text="broken({0})", public="", ufuncs=(), sympy_types=())
    fields.update(changes)
    return Op(**fields)


def test_the_walker_names_a_broken_op_and_each_missing_piece(monkeypatch):
    wrong = _broken(cuda="", partials=lambda B, args, out: (B.call("sin", args[0]),))  # d sin = sin: wrong
    monkeypatch.setitem(OPS, "broken", wrong)
    problems = "\n".join(walk(["broken"])["broken"])
    assert "broken: no cuda spelling" in problems
    assert "broken: partial 0" in problems and "central differences" in problems
    assert "broken: neither a public function" in problems
    if HAS_CC:
        assert "broken: the C spelling fails" in problems


def test_the_walker_notices_a_forgotten_sympy_entry_and_export(monkeypatch):
    monkeypatch.setitem(OPS, "broken", _broken(sympy=None, public="broken"))
    problems = "\n".join(walk(["broken"])["broken"])
    assert "broken: no sympy constructor" in problems
    assert "broken: no sg.broken export" in problems
    assert "broken: the formula parser does not know broken()" in problems


def test_the_walker_notices_a_wrong_spelling_and_a_forgotten_ufunc(monkeypatch):
    monkeypatch.setitem(OPS, "broken", _broken(python="_m.cos({0})", public="sin", ufuncs=()))
    problems = "\n".join(walk(["broken"])["broken"])
    assert "broken: the Python scalar spelling" in problems
    assert "broken: numpy has the ufunc sin but the table does not map it" in problems


def test_c_helpers_are_emitted_only_for_the_ops_that_call_them():
    assert ops.c_helpers(["sin", "exp"]) == []
    assert [h.split("(")[0] for h in ops.c_helpers(["relu", "maximum", "sign"])] == [
        "SG_FN real sg_sign",
        "SG_FN real sg_max",
    ]
    x, y = sg.symbols("x y")
    source = sg.compile([sg.sigmoid(x), sg.maximum(x, y)], inputs=[x, y]).source_for("c")
    assert "sg_sigmoid(real a)" in source and "sg_max(real a" in source
    assert "sg_min" not in source and "sg_sign" not in source and "sg_softplus" not in source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nvcc_compiles_every_op_of_the_table_without_a_warning(tmp_path, dtype):
    import subprocess

    w = Walk(list(OPS))
    slots = [o for o in w.outputs if o.op != "const"]
    path = tmp_path / "every_op.cu"
    path.write_text(generate_native(w.inputs, slots, dtype, "cuda").source)
    cmd = ["nvcc", "--ptx", "-arch=sm_80", "-std=c++14", "-Werror", "all-warnings", "-o", str(tmp_path / "k.ptx")]
    res = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-4000:]
