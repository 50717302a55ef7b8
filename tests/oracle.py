"""The shared oracle of the property tests: symgrad and sympy building the same random expressions.

Each random expression tree is built twice, independently, from tables of
``(symgrad builder, sympy builder)`` pairs, so the oracle never goes through
symgrad's own sympy conversion.  ``SMOOTH_*`` are smooth on the whole real
line (any nesting is safe); ``EXTRA_*`` cover the remaining primitives (kinks,
selects, comparisons, bounded-domain functions wrapped to stay in their
domain).  SYMGRAD_FUZZ_EXAMPLES scales every property test.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import sympy
from hypothesis import reject
from hypothesis import strategies as st

import symgrad as sg

X, Y = sg.symbols("x y")
SX, SY = sympy.symbols("x y", real=True)


def examples(default: int) -> int:
    """How many examples a property test draws: its default, or SYMGRAD_FUZZ_EXAMPLES."""
    return int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", str(default)))


class StopGrad(sympy.Function):
    """sympy's stand-in for stop_gradient: the identity with derivative zero."""

    @classmethod
    def eval(cls, arg):
        if arg.is_Number:  # a constant stays a number, so a condition on it decides (sympy's Piecewise needs that)
            return arg
        return None

    def fdiff(self, argindex=1):
        return sympy.S.Zero


def _where(c, a, b):
    return sympy.Piecewise((a, c), (b, True))


SMOOTH_UNARY = {
    "sin": (sg.sin, sympy.sin),
    "cos": (sg.cos, sympy.cos),
    "tanh": (sg.tanh, sympy.tanh),
    "arctan": (sg.arctan, sympy.atan),
    "sigmoid": (sg.sigmoid, lambda a: 1 / (1 + sympy.exp(-a))),
    "exp_sin": (lambda a: sg.exp(sg.sin(a)), lambda a: sympy.exp(sympy.sin(a))),
    "log1p_sq": (lambda a: sg.log1p(a**2), lambda a: sympy.log(1 + a**2)),
    "log_sq": (lambda a: sg.log(1 + a**2), lambda a: sympy.log(1 + a**2)),
    "sqrt_sq": (lambda a: sg.sqrt(1 + a**2), lambda a: sympy.sqrt(1 + a**2)),
    "square": (sg.square, lambda a: a**2),
    "cube": (lambda a: a**3, lambda a: a**3),
    "neg": (lambda a: -a, lambda a: -a),
    "sinh_small": (lambda a: sg.sinh(sg.tanh(a)), lambda a: sympy.sinh(sympy.tanh(a))),
    "cosh_small": (lambda a: sg.cosh(sg.sin(a)), lambda a: sympy.cosh(sympy.sin(a))),
    "arcsin_half": (lambda a: sg.arcsin(sg.tanh(a) / 2), lambda a: sympy.asin(sympy.tanh(a) / 2)),
    "expm1_tanh": (lambda a: sg.expm1(sg.tanh(a)), lambda a: sympy.exp(sympy.tanh(a)) - 1),
    "log2_sq": (lambda a: sg.log2(2 + a**2), lambda a: sympy.log(2 + a**2) / sympy.log(2)),
}
SMOOTH_BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (1 + b**2), lambda a, b: a / (1 + b**2)),
    "arctan2": (lambda a, b: sg.arctan2(a, 2 + b**2), lambda a, b: sympy.atan2(a, 2 + b**2)),
    "pow": (lambda a, b: (1 + a**2) ** (sg.sin(b) / 2), lambda a, b: (1 + a**2) ** (sympy.sin(b) / 2)),
}
EXTRA_UNARY = {
    "tan": (lambda a: sg.tan(sg.tanh(a)), lambda a: sympy.tan(sympy.tanh(a))),
    "arccos": (lambda a: sg.arccos(sg.tanh(a) * 0.9), lambda a: sympy.acos(sympy.tanh(a) * sympy.Rational(9, 10))),
    "arcsin": (lambda a: sg.arcsin(sg.tanh(a) * 0.9), lambda a: sympy.asin(sympy.tanh(a) * sympy.Rational(9, 10))),
    "sinh": (lambda a: sg.sinh(sg.sin(a)), lambda a: sympy.sinh(sympy.sin(a))),
    "cosh": (lambda a: sg.cosh(sg.tanh(a)), lambda a: sympy.cosh(sympy.tanh(a))),
    "expm1": (lambda a: sg.expm1(sg.sin(a)), lambda a: sympy.exp(sympy.sin(a)) - 1),
    "log1p": (lambda a: sg.log1p(a**2), lambda a: sympy.log(1 + a**2)),
    "abs": (sg.abs, lambda a: _where(a >= 0, a, -a)),
    "sign": (lambda a: sg.sign(a) * a, lambda a: sympy.Piecewise((a, a > 0), (-a, a < 0), (0, True))),
    "relu": (sg.relu, lambda a: _where(a > 0, a, 0)),
    "sigmoid": (sg.sigmoid, lambda a: 1 / (1 + sympy.exp(-a))),
    "stop_gradient": (lambda a: sg.stop_gradient(a) * a, lambda a: StopGrad(a) * a),
    "exp": (lambda a: sg.exp(sg.sin(a)), lambda a: sympy.exp(sympy.sin(a))),
    "sqrt": (lambda a: sg.sqrt(1 + a**2), lambda a: sympy.sqrt(1 + a**2)),
}
EXTRA_BINARY = {
    "maximum": (sg.maximum, lambda a, b: _where(a >= b, a, b)),
    "minimum": (sg.minimum, lambda a, b: _where(a <= b, a, b)),
    "pow": (lambda a, b: (2 + sg.sin(a)) ** sg.cos(b), lambda a, b: (2 + sympy.sin(a)) ** sympy.cos(b)),
    "where_gt": (lambda a, b: sg.where(a > b, a * b, a - b), lambda a, b: _where(a > b, a * b, a - b)),
    "where_le": (lambda a, b: sg.where(a <= b, sg.sin(a), b), lambda a, b: _where(a <= b, sympy.sin(a), b)),
    "where_lt": (lambda a, b: sg.where(a < 0.5, a, b * b), lambda a, b: _where(a < sympy.Rational(1, 2), a, b * b)),
    "where_ge": (lambda a, b: sg.where(b >= a, b, 2 * a), lambda a, b: _where(b >= a, b, 2 * a)),
}


def _built(fns, *pairs):
    """One node of both trees: symgrad's function on the symgrad operands, sympy's on sympy's.

    sympy's Piecewise simplification can recurse without end on nested selects (a
    RecursionError while the example is built): such an example has no oracle, so it
    is rejected and another drawn, not counted as a failure.
    """
    ours, theirs = fns
    try:
        return ours(*(p[0] for p in pairs)), theirs(*(p[1] for p in pairs))
    except RecursionError:
        reject()


def expressions(unary: dict, binary: dict, leaves: list, max_leaves: int):
    """A hypothesis strategy of ``(symgrad expression, sympy expression)`` pairs built from the tables."""

    def extend(children):
        one = st.tuples(st.sampled_from(sorted(unary)), children).map(lambda t: _built(unary[t[0]], t[1]))
        two = st.tuples(st.sampled_from(sorted(binary)), children, children).map(
            lambda t: _built(binary[t[0]], t[1], t[2])
        )
        return st.one_of(one, two)

    return st.recursive(st.sampled_from(leaves) if isinstance(leaves, list) else leaves, extend, max_leaves=max_leaves)


SMOOTH_LEAVES = [(X, SX), (Y, SY), (2 * X, 2 * SX), (X * Y, SX * SY)]


def smooth_expressions(max_leaves: int = 8):
    """Random smooth expressions in x and y, with small integer and binary-fraction constants among the leaves."""
    consts = st.sampled_from([-2, -1, 1, 2, 3, 0.5, 1.5]).map(lambda c: (c, sympy.nsimplify(c)))
    return expressions(SMOOTH_UNARY, SMOOTH_BINARY, st.one_of(st.sampled_from(SMOOTH_LEAVES), consts), max_leaves)


SYMPY_MODULES = [
    {
        "StopGrad": lambda v: v,
        "Heaviside": lambda v, h=0.5: np.heaviside(v, h),
        "DiracDelta": lambda v, k=0: 0.0 * v,  # zero away from the kink, where the points lie
    },
    "numpy",
]


def sympy_values(exprs, points: np.ndarray) -> list[np.ndarray]:
    """sympy's values of ``exprs`` (in SX, SY) at ``points`` (shape (2, n)), each broadcast to (n,)."""
    fn = sympy.lambdify((SX, SY), list(exprs), modules=SYMPY_MODULES)
    try:
        with np.errstate(all="ignore"):
            out = fn(points[0], points[1])
    except TypeError:  # lambdify's np.select refuses some nested Piecewise conditions: evaluate point by point
        plain = [sympy.sympify(e).replace(StopGrad, lambda v: v) for e in exprs]
        out = [
            np.array([complex(e.evalf(subs={SX: a, SY: b})).real for a, b in zip(points[0], points[1])]) for e in plain
        ]
    return [np.broadcast_to(np.asarray(v, dtype=float), points[0].shape) for v in out]


def central_gradient(f, points: np.ndarray, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of a compiled two-argument function at ``points``."""
    x, y = points
    return (f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)


def central_jacobian(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of ``fn`` (array out) with respect to every element of ``x``: shape out + x.shape."""
    cols = []
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        cols.append((np.asarray(fn(x + e), dtype=float) - np.asarray(fn(x - e), dtype=float)) / (2 * h))
    out = np.stack(cols, axis=-1)
    return out.reshape(out.shape[:-1] + x.shape)


def raises_symgrad(cls, fn, *needles):
    """Call ``fn``; it must raise ``cls``, a symgrad error, whose message holds every needle. Returns the error."""
    import pytest

    with pytest.raises(cls) as info:
        fn()
    assert isinstance(info.value, sg.SymgradError)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    return info.value


def nvcc_ptx(nvcc: str, files: list[str], outdir) -> list[str]:
    """Compile CUDA sources to PTX for sm_80 with every warning an error; the PTX texts (one per file)."""
    import subprocess
    from pathlib import Path

    res = subprocess.run(
        [nvcc, "--ptx", "-arch=sm_80", "-std=c++14", "-Werror", "all-warnings", "-odir", str(outdir), *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    return [p.read_text() for p in Path(outdir).glob("*.ptx")]


def op_operands(op) -> int:
    """How many operands the op table's entry takes in tests (two for an n-ary op)."""
    return 2 if op.arity == -1 else op.arity


def op_points(op, n: int, salt: int = 0) -> np.ndarray:
    """``(operands, n)`` test points of an op: the entry's own samples, or drawn from its domain."""
    if op.samples:
        pts = np.array(op.samples, dtype=float).T
        return np.resize(pts, (pts.shape[0], n))
    rng = np.random.default_rng(sum(map(ord, op.name)) + salt)
    return rng.uniform(*op.domain, size=(op_operands(op), n))


def has_gpu() -> bool:
    """Whether CuPy and a CUDA device are usable here (GPU-only tests are skipped otherwise)."""
    try:
        from symgrad.backends import cuda

        cuda.cupy()
        return True
    except sg.BackendError:
        return False


def lines_run(build, counted: tuple[str, ...]) -> int:
    """Python lines run in the files whose path holds one of ``counted`` while ``build()`` runs.

    A count of work, not of time: scale tests compare it at two sizes (a loop per
    slot or per variable shows as a count growing faster than the problem).
    """
    count = [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
        return local

    def tracer(frame, event, arg):
        name = frame.f_code.co_filename.replace("\\", "/")
        return local if any(part in name for part in counted) else None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        build()
    finally:
        sys.settrace(old)
    return count[0]


@contextlib.contextmanager
def no_c_compiler(monkeypatch):
    """A PATH and environment where symgrad finds no C compiler (and its lookup cache forgotten on both sides)."""
    from symgrad.backends import c as native

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("SYMGRAD_CC", raising=False)
    native.find_compiler.cache_clear()
    try:
        yield
    finally:
        native.find_compiler.cache_clear()


def compiled_on(outs, inputs, path: str, dtype: str, monkeypatch):
    """``outs`` compiled on one path: ``numpy`` or ``c`` printed, or ``numpy-tape`` / ``c-tape`` run from the tape."""
    from symgrad.backends import c as native
    from symgrad.backends.c_tape import TapedKernel
    from symgrad.codegen import kernel as codegen

    if path == "numpy-tape":
        monkeypatch.setattr(codegen, "TAPE_STATEMENTS", -1)
    if path == "c-tape":
        monkeypatch.delenv(native.C_TAPE_ENV, raising=False)
        monkeypatch.setattr(native, "C_TAPE_STATEMENTS", 0)
    f = sg.compile(outs, inputs=inputs, backend=path.split("-")[0], dtype=dtype)
    taped = f.kernel.tape is not None if path.startswith("numpy") else isinstance(f.kernel, TapedKernel)
    assert taped == path.endswith("tape")
    return f


def nodes_created(fn) -> tuple[int, int, object]:
    """Nodes created while ``fn()`` runs (kept or not), their operands, and ``fn``'s result: the work sizes hide."""
    from symgrad.ir import node as node_module

    count = [0, 0]

    def hook(args):
        count[0] += 1
        count[1] += len(args)

    saved = node_module._CREATION_HOOK
    node_module.set_creation_hook(hook)
    try:
        result = fn()
    finally:
        node_module.set_creation_hook(saved)
    return count[0], count[1], result
