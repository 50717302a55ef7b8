"""Every benchmark workload, defined once; the drivers (run.py, gpu.py, scale.py) time them.

- **W2**: value + gradient + Hessian of a 3-input function at many points.  The
  function is :func:`w2`, written once over any math namespace (symgrad, sympy,
  symengine, jax.numpy, numpy); the builders below turn it into each peer's
  callable.  The hand-derived derivatives are :data:`W2_HAND_STEPS`, written once
  in the syntax Python and C share, and rendered both as a numpy function
  (:func:`w2_hand`) and as a CuPy elementwise kernel (:func:`w2_hand_cuda_kernel`).
- **R**: the extended Rosenbrock function's Hessian (build time and size), with its
  known tridiagonal Hessian and a finite-difference check.
- **K**: the k-th derivative of ``exp(sin(x))*x**2/(1+x**2)``.
- **L**: per-call latency of the compiled gradient / Hessian of N6 on two floats.
- **S**: the chain ``y <- sin(y)*1e-5 + y`` repeated n times, stage by stage (scale).

Optional peers (symengine, JAX, CuPy) are imported on first use by :func:`peer`;
one that is missing is ``None`` there and "not installed" in :func:`peer_versions`.
sympy is symgrad's own dependency and is imported where a sympy form is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np

import symgrad as sg

# -- optional peers -------------------------------------------------------------------------

_PEERS: dict[str, object] = {}


def peer(name: str):
    """The module ``name`` ("symengine", "jax", "cupy", ...), or None when it is not installed.

    Importing JAX here also switches on its float64 support, which W2 compares in.
    """
    if name not in _PEERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            module = None
        if name == "jax" and module is not None:
            module.config.update("jax_enable_x64", True)
        _PEERS[name] = module
    return _PEERS[name]


def require(name: str):
    """The module ``name``; ImportError("<name> is not installed") when it is not."""
    module = peer(name)
    if module is None:
        raise ImportError(f"{name} is not installed")
    return module


def peer_versions(names: Iterable[str]) -> list[str]:
    """``name version`` for each peer, or ``name not installed``."""
    out = []
    for name in names:
        module = peer(name)
        out.append(f"{name} {module.__version__}" if module is not None else f"{name} not installed")
    return out


def _sympy():
    import sympy

    return sympy


def sympy_cse(exprs) -> tuple:
    """``sympy.cse(exprs)``: (replacements, reduced expressions)."""
    return _sympy().cse(exprs)


def cse_ops(cse: tuple) -> int:
    """``sympy.count_ops`` summed over a :func:`sympy_cse` result's replacements and reduced expressions."""
    sympy = _sympy()
    replacements, reduced = cse
    return sum(sympy.count_ops(r) for _, r in replacements) + sum(sympy.count_ops(e) for e in reduced)


# -- W2: value + gradient + Hessian of a 3-input function --------------------------------------


def w2(x, y, z, m=sg):
    """W2's function over the math namespace ``m`` (sg, sympy, symengine, jax.numpy or numpy)."""
    return m.sin(x * y) * m.exp(-(z**2)) + m.log(1 + x**2 + y**2) * m.tanh(z) + x * y * z / (1 + x**2)


def w2_points(n: int, xp=np) -> tuple:
    """The benchmark's inputs: three arrays of ``n`` points, uniform in [0.5, 1.5], seed 0 (numpy or CuPy)."""
    rng = xp.random.default_rng(0)
    return tuple(rng.uniform(0.5, 1.5, n) for _ in range(3))


def w2_symgrad(backend: str = "numpy", **options) -> sg.Compiled:
    """symgrad's fused kernel for [f, gradient, Hessian]: returns f (N,), grad (N, 3), hess (N, 3, 3)."""
    x, y, z = sg.symbols("x y z")
    f = w2(x, y, z)
    outputs = [f, sg.gradient(f, [x, y, z]), sg.hessian(f, [x, y, z])]
    return sg.compile(outputs, inputs=[x, y, z], backend=backend, **options)


def w2_by_transforms(X, Y, Z) -> list:
    """The 13 values per point through symgrad's function transforms (an independent path for checks)."""
    value, grad = sg.value_and_grad(w2, argnums=(0, 1, 2))(X, Y, Z)
    hess = sg.hessian(w2, argnums=(0, 1, 2))(X, Y, Z)
    return [value, *grad, *(h for row in hess for h in row)]


def _w2_cas(m) -> tuple:
    """Symbols (x, y, z), W2's f and its gradient in a computer algebra system (sympy or symengine)."""
    xyz = tuple(m.symbols("x y z"))
    f = w2(*xyz, m)
    return xyz, f, [m.diff(f, v) for v in xyz]


def w2_sympy():
    """``sympy.lambdify(cse=True)`` of [f, gradient, Hessian]; its output is made canonical by :func:`w2_sympy_canonical`."""
    sympy = _sympy()
    xyz, f, grad = _w2_cas(sympy)
    return sympy.lambdify(xyz, [f, grad, sympy.hessian(f, xyz)], modules="numpy", cse=True)


def w2_sympy_canonical(out) -> tuple:
    """sympy's [f, [3 arrays], (3, 3, N) array] as f (N,), grad (N, 3), hess (N, 3, 3)."""
    f, grad, hess = out
    grad = np.stack([np.broadcast_to(g, np.shape(f)) for g in grad], axis=-1)
    hess = np.moveaxis(np.asarray(hess, dtype=float), (0, 1), (-2, -1))
    return np.asarray(f), grad, hess


def w2_symengine(backend: str | None = "llvm"):
    """symengine's ``Lambdify(cse=True)`` of f, gradient, Hessian; called on one (N, 3) array (:func:`w2_stacked`).

    Needs symengine (see :func:`peer`); ``backend=None`` is symengine's default backend.
    """
    se = require("symengine")
    xyz, f, grad = _w2_cas(se)
    hess = [[se.diff(f, a, b) for b in xyz] for a in xyz]
    kw = {"backend": backend} if backend else {}
    return se.Lambdify(list(xyz), f, grad, hess, cse=True, **kw)


def w2_stacked(X, Y, Z, xp=np):
    """The inputs as one C-contiguous (N, 3) array, the layout symengine and the JAX vmap take."""
    return xp.ascontiguousarray(xp.stack([X, Y, Z], axis=-1))


def w2_jax():
    """``jax.jit(jax.vmap(value, grad, hessian))`` of W2: (N, 3) in, f (N,), grad (N, 3), hess (N, 3, 3) out.

    Needs JAX (see :func:`peer`).
    """
    jax = require("jax")
    import jax.numpy as jnp

    def fj(v):
        return w2(v[0], v[1], v[2], jnp)

    return jax.jit(jax.vmap(lambda v: (fj(v), jax.grad(fj)(v), jax.hessian(fj)(v))))


def w2_close(a: Sequence, b: Sequence, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    """Do two results (sequences of arrays in the same layout) agree?"""
    return len(a) == len(b) and all(np.allclose(u, v, rtol=rtol, atol=atol) for u, v in zip(a, b))


def w2_flat(f, grad, hess) -> list:
    """f (N,), grad (N, 3), hess (N, 3, 3) as the 13 per-point arrays f, f_x.., f_xx, f_xy, .. (numpy or CuPy)."""
    return [f, *(grad[:, k] for k in range(3)), *(hess[:, i, j] for i in range(3) for j in range(3))]


# The hand derivation.  f = A + B + C with A = sin(xy) e^{-z^2}, B = log(Q) tanh(z) (Q = 1+x^2+y^2),
# C = yz * g(x) with g = x/D (D = 1+x^2), g' = (1-x^2)/D^2, g'' = 2x(x^2-3)/D^3.
# Each step is valid Python and C: integer literals only where a float operand follows.
W2_HAND_STEPS: tuple[tuple[str, str], ...] = (
    ("xy", "x * y"),
    ("s", "sin(xy)"),
    ("c", "cos(xy)"),
    ("E", "exp(-z * z)"),
    ("sE", "s * E"),
    ("cE", "c * E"),
    ("Q", "1 + x * x + y * y"),
    ("L", "log(Q)"),
    ("Th", "tanh(z)"),
    ("S", "1 - Th * Th"),  # sech^2 z
    ("iQ", "1 / Q"),
    ("iQ2", "iQ * iQ"),
    ("D", "1 + x * x"),
    ("iD", "1 / D"),
    ("g0", "x * iD"),
    ("g1", "(1 - x * x) * iD * iD"),
    ("g2", "2 * x * (x * x - 3) * iD * iD * iD"),
    ("yz", "y * z"),
    ("m2z", "-2 * z"),
    ("f", "sE + L * Th + yz * g0"),
    ("fx", "y * cE + 2 * x * iQ * Th + yz * g1"),
    ("fy", "x * cE + 2 * y * iQ * Th + z * g0"),
    ("fz", "m2z * sE + L * S + y * g0"),
    ("fxx", "-y * y * sE + 2 * Th * (1 - x * x + y * y) * iQ2 + yz * g2"),
    ("fxy", "cE - xy * sE - 4 * Th * xy * iQ2 + z * g1"),
    ("fxz", "m2z * y * cE + 2 * x * iQ * S + y * g1"),
    ("fyy", "-x * x * sE + 2 * Th * (1 + x * x - y * y) * iQ2"),
    ("fyz", "m2z * x * cE + 2 * y * iQ * S + g0"),
    ("fzz", "(4 * z * z - 2) * sE - 2 * L * Th * S"),
)
W2_HAND_OUTPUTS = ("f", "fx", "fy", "fz", "fxx", "fxy", "fxz", "fyy", "fyz", "fzz")  # the 10 unique values
# w2_flat's order: the 13 values per point that the GPU kernels write
W2_FLAT_NAMES = ("f", "fx", "fy", "fz", "fxx", "fxy", "fxz", "fyx", "fyy", "fyz", "fzx", "fzy", "fzz")
W2_MIRRORED = {"fyx": "fxy", "fzx": "fxz", "fzy": "fyz"}


def w2_hand_numpy(steps: Sequence[tuple[str, str]] = W2_HAND_STEPS) -> tuple[Callable, str]:
    """The hand steps as a numpy function ``(x, y, z) -> the 10 W2_HAND_OUTPUTS``, and its source."""
    body = "\n".join(f"    {name} = {expr}" for name, expr in steps)
    source = f"def w2_hand(x, y, z):\n{body}\n    return {', '.join(W2_HAND_OUTPUTS)}\n"
    namespace = {"sin": np.sin, "cos": np.cos, "exp": np.exp, "log": np.log, "tanh": np.tanh}
    exec(compile(source, "<W2_HAND_STEPS as numpy>", "exec"), namespace)  # noqa: S102 - the text above
    return namespace["w2_hand"], source


w2_hand, W2_HAND_NUMPY_SOURCE = w2_hand_numpy()
w2_hand.__doc__ = "W2's f, 3 partials and 6 unique second partials by hand: 10 numpy arrays (W2_HAND_STEPS)."


def w2_hand_canonical(out) -> tuple:
    """:func:`w2_hand`'s 10 arrays as f (N,), grad (N, 3), hess (N, 3, 3)."""
    v = dict(zip(W2_HAND_OUTPUTS, out))
    grad = np.stack([v["fx"], v["fy"], v["fz"]], axis=-1)
    rows = (("fxx", "fxy", "fxz"), ("fxy", "fyy", "fyz"), ("fxz", "fyz", "fzz"))
    hess = np.stack([np.stack([v[k] for k in row], axis=-1) for row in rows], axis=-2)
    return v["f"], grad, hess


def w2_hand_cuda_source() -> tuple[str, str, str]:
    """(inputs, outputs, body) of a CuPy ElementwiseKernel writing W2's 13 values per point once each."""
    outputs = set(W2_HAND_OUTPUTS)
    lines = [f"{'' if name in outputs else 'T '}{name} = {expr};" for name, expr in W2_HAND_STEPS]
    lines += [f"{copy} = {name};" for copy, name in W2_MIRRORED.items()]
    return "T x, T y, T z", ", ".join(f"T {name}" for name in W2_FLAT_NAMES), "\n".join(lines)


def w2_hand_cuda_kernel():
    """The hand derivation as a CuPy ``ElementwiseKernel(x, y, z, *13 outputs)``; needs CuPy."""
    cp = require("cupy")
    return cp.ElementwiseKernel(*w2_hand_cuda_source(), "w2_hand")


# -- R: the extended Rosenbrock Hessian -----------------------------------------------------------


def rosenbrock(x):
    """The extended Rosenbrock function of a sequence (symgrad vector, sympy symbols, ...)."""
    n = len(x)
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))


def rosenbrock_symgrad(n: int):
    """The compiled Hessian ``sg.hessian(rosenbrock, shapes={'x': (n,)})``: x (n,) in, (n, n) out."""
    return sg.hessian(rosenbrock, shapes={"x": (n,)})


def rosenbrock_casadi(n: int, vectorised: bool = False):
    """CasADi SX: ``hessian`` of the Rosenbrock function as a ``Function`` (needs casadi, see :func:`peer`).

    By default traced from the same scalar Python function symgrad traces (over
    ``vertsplit(x)``, CasADi's fastest way to the scalar entries); ``vectorised``
    writes it with CasADi's slices instead (``x[1:] - x[:-1]**2``), which CasADi
    builds in C++ and symgrad has no counterpart for.
    """
    ca = require("casadi")
    x = ca.SX.sym("x", n)
    if vectorised:
        f = ca.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    else:
        f = rosenbrock(ca.vertsplit(x))
    return ca.Function("h", [x], [ca.hessian(f, x)[0]])


def rosenbrock_phases(n: int, x0: np.ndarray, lap: Callable[[str], None]) -> np.ndarray:
    """The same Hessian through the expression API, calling ``lap(phase)`` after each phase.

    Phases: trace (symbols and f), diff, generate (sg.compile), call (the first, at ``x0``).
    """
    xs = sg.symbols("x", shape=(n,))
    f = rosenbrock(xs)
    lap("trace")
    H = sg.hessian(f, xs)
    lap("diff")
    c = sg.compile(H, inputs=[xs])
    lap("generate")
    value = c(x0)
    lap("call")
    return value


def rosenbrock_sympy(n: int, x0: np.ndarray, lap: Callable[[str], None]) -> tuple:
    """``sympy.hessian`` + ``lambdify(cse=True)`` + first call: (Hessian matrix, value at ``x0``).

    Calls ``lap(phase)`` after each of: setup (symbols and f), diff, lambdify, call.
    """
    sympy = _sympy()
    xs = sympy.symbols(f"x0:{n}")
    f = rosenbrock(xs)
    lap("setup")
    Hm = sympy.hessian(f, xs)
    lap("diff")
    lam = sympy.lambdify([xs], Hm, modules="numpy", cse=True)
    lap("lambdify")
    value = lam(x0)
    lap("call")
    return Hm, np.asarray(value, dtype=float)


def rosenbrock_hessian_exact(x0: np.ndarray) -> np.ndarray:
    """The known tridiagonal Hessian of the extended Rosenbrock function."""
    n = len(x0)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x0[i] ** 2 - 400 * x0[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x0[i]
    return H


def rosenbrock_grad_numpy(x: np.ndarray) -> np.ndarray:
    """The gradient by hand, in numpy."""
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * t - 2 * (1 - x[:-1])
    g[1:] += 200 * t
    return g


def fd_hessian(grad: Callable, x0: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of ``grad``, symmetrised."""
    n = len(x0)
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        H[:, j] = (grad(x0 + e) - grad(x0 - e)) / (2 * h)
    return 0.5 * (H + H.T)


# -- K: k-th derivatives of a univariate function -------------------------------------------------

KTH_TEXT = "exp(sin(x))*x**2/(1+x**2)"
KTH_POINT = (7, 10)  # x = 0.7, exactly, for sympy's evaluation


def kth_g(x, m=sg):
    """K's function over the math namespace ``m`` (sg or sympy)."""
    return m.exp(m.sin(x)) * x**2 / (1 + x**2)


def kth_symgrad(k: int) -> tuple:
    """(x, d^k g / dx^k) built from scratch with ``sg.diff(g, x, k)``."""
    x = sg.symbols("x")
    return x, sg.diff(kth_g(x), x, k)


def kth_sympy_symbol():
    return _sympy().Symbol("x")


def kth_sympy(k: int, x):
    """``sympy.diff(g, x, k)`` for the sympy symbol ``x``."""
    return _sympy().diff(kth_g(x, _sympy()), x, k)


def kth_sympy_value(d, x) -> float:
    """A sympy derivative at x = 0.7, evaluated to 30 digits."""
    return float(d.evalf(30, subs={x: _sympy().Rational(*KTH_POINT)}))


# -- L: per-call latency on Python floats -----------------------------------------------------------

N6_TEXT = "x1**3 + x2**2 + 4*x1*x2 + 5"


def n6(x1, x2):
    return x1**3 + x2**2 + 4 * x1 * x2 + 5


def n6_grad_exact(a: float, b: float) -> list[float]:
    return [3 * a**2 + 4 * b, 2 * b + 4 * a]


def n6_hess_exact(a: float, b: float) -> list[list[float]]:
    return [[6 * a, 4], [4, 2]]


def n6_symgrad() -> tuple:
    """symgrad's compiled gradient and Hessian of N6 over both arguments."""
    return sg.grad(n6, argnums=(0, 1)), sg.hessian(n6, argnums=(0, 1))


def n6_sympy(modules: str) -> tuple:
    """sympy-lambdified gradient (a list) and Hessian (a Matrix, or a list of lists for ``math``)."""
    sympy = _sympy()
    x1, x2 = sympy.symbols("x1 x2")
    e = n6(x1, x2)
    grad_e = [sympy.diff(e, v) for v in (x1, x2)]
    hess_e = sympy.hessian(e, (x1, x2))
    lg = sympy.lambdify((x1, x2), grad_e, modules=modules)
    lh = sympy.lambdify((x1, x2), hess_e if modules == "numpy" else hess_e.tolist(), modules=modules)
    return lg, lh


def pair(p, q):
    """The latency floor: a plain Python function of two floats returning a tuple."""
    return (p, q)


# -- S: a long chain, stage by stage -----------------------------------------------------------------

CHAIN_STEP = 1e-5  # y <- sin(y) * CHAIN_STEP + y


def chain(x, n: int, m=sg):
    """The chain y <- sin(y)*1e-5 + y repeated ``n`` times from ``x`` (symgrad node or numpy array)."""
    y = x
    for _ in range(n):
        y = m.sin(y) * CHAIN_STEP + y
    return y


def chain_numpy(x0, n: int) -> tuple:
    """The chain's value and derivative by forward accumulation in numpy (a reference)."""
    y, dy = np.asarray(x0, dtype=float), np.ones_like(x0, dtype=float)
    for _ in range(n):
        y, dy = np.sin(y) * CHAIN_STEP + y, (np.cos(y) * CHAIN_STEP + 1) * dy
    return y, dy


def node_count(roots: Iterable[sg.Node]) -> int:
    """How many distinct nodes the graphs of ``roots`` hold (shared nodes counted once)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.args)
    return len(seen)


def chain_stages(n: int, lap: Callable[[str], None], points: int = 1000) -> dict:
    """Build and run the chain and its derivative, calling ``lap(stage)`` after each stage.

    Stages: trace, diff, generate (schedule, print, render), numpy compile+run (one
    call on ``points`` points), scalar compile+run.  Returns nodes, steps and the
    results at 0.3 (``array`` and ``scalar``), for checking.
    """
    x = sg.symbols("x")
    y = chain(x, n)
    lap("trace")
    d = sg.diff(y, x)
    lap("diff")
    f = sg.compile([y, d], inputs=[x])
    lap("generate")
    array = f(np.full(points, 0.3))
    lap("numpy compile+run")
    scalar = f(0.3)
    lap("scalar compile+run")
    return {"nodes": node_count([y, d]), "steps": f.statement_count, "array": array, "scalar": scalar}


# -- G: the issue-15 chain gradient, built and called once ---------------------------------------


def gchain(x, n: int, m=sg):
    """``y <- 0.5*sin(y) + 0.9*y`` n times from ``x``, plus ``x`` every 7th step (symgrad, numpy or CasADi)."""
    y = x
    for k in range(n):
        y = 0.5 * m.sin(y) + 0.9 * y
        if k % 7 == 0:
            y = y + x
    return y


def gchain_reference(x0: float, n: int) -> tuple[float, float]:
    """The chain's value and derivative at ``x0`` by forward accumulation in plain Python."""
    import math

    y, dy = x0, 1.0
    for k in range(n):
        y, dy = 0.5 * math.sin(y) + 0.9 * y, (0.5 * math.cos(y) + 0.9) * dy
        if k % 7 == 0:
            y, dy = y + x0, dy + 1.0
    return y, dy


def gchain_casadi(n: int):
    """CasADi SX: the chain's gradient as a ``Function`` (needs casadi, see :func:`peer`)."""
    ca = require("casadi")
    x = ca.SX.sym("x")
    y = gchain(x, n, ca)
    return ca.Function("g", [x], [ca.gradient(y, x)])
