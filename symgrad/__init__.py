"""symgrad: exact derivatives as readable formulas and as fused compiled code.

    import symgrad as sg
    x, y = sg.symbols("x y")
    sg.diff(x**3 * y, x)             # 3*x**2*y
    sg.grad(lambda x, y: x**3 * y)   # a compiled gradient: floats or arrays in

The public API is re-exported here and nowhere else.  The parts that need
sympy (the checker, the sympy bridge) load on first use, so ``import symgrad``
does not import sympy.
"""

import importlib

from ._version import __version__
from .api.batching import vmap
from .api.compiled import Compiled
from .api.dataset import DatasetCompiled
from .api.expressions import compile, diff, gradient, hessian, jacobian, lambdify, operation_count
from .api.products import hvp, jvp, vjp
from .api.transforms import derivative, grad, jacfwd, jacrev, jit, value_and_grad
from .api.wrappers import SparseHessian
from .errors import (
    ArrayMethodError,
    AxisError,
    BackendError,
    DiffError,
    FormulaError,
    InputError,
    LimitError,
    ShapeError,
    SymbolNameError,
    SymgradError,
    TraceError,
    UnsupportedOpError,
    VerificationError,
)
from .formula import parse as parse_formula
from .graph import Graph, graph
from .ir import node as _node
from .ir.custom import CustomFunction, E, custom_function, pi
from .ir.node import Node
from .limits import budget
from .tracing.functions import (
    abs,
    amax,
    amin,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    cbrt,
    clip,
    cos,
    cosh,
    cumprod,
    cumsum,
    dot,
    equal,
    erf,
    erfc,
    exp,
    exp2,
    expm1,
    hypot,
    isfinite,
    isinf,
    isnan,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    not_equal,
    prod,
    reciprocal,
    relu,
    sigmoid,
    sign,
    sin,
    sinc,
    sinh,
    softmax,
    softplus,
    sqrt,
    square,
    std,
    stop_gradient,
    sum,
    symbols,
    tan,
    tanh,
    var,
    where,
)
from .tracing.linalg import (
    concatenate,
    det,
    einsum,
    hstack,
    inv,
    norm,
    outer,
    reshape,
    solve,
    stack,
    tensordot,
    trace,
    transpose,
    vstack,
)

max = amax  # numpy's names (np.max is np.amax); the builtins stay unshadowed inside symgrad's modules
min = amin

_LAZY = {
    "check": "checker",
    "gradcheck": "checker",
    "from_sympy": "sympy_bridge",
    "latex": "sympy_bridge",
    "simplify": "sympy_bridge",
    "to_sympy": "sympy_bridge",
}


def __getattr__(name: str):
    """Load the sympy-backed parts of the API the first time one is used (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def _latex(node: Node) -> str:
    from .sympy_bridge import latex as to_latex

    return to_latex(node)


_node.PROTOCOL.latex = _latex
_node.PROTOCOL.diff = diff  # e.diff(x), sympy's method spelling

__all__ = [
    "ArrayMethodError",
    "AxisError",
    "BackendError",
    "Compiled",
    "CustomFunction",
    "DatasetCompiled",
    "DiffError",
    "E",
    "FormulaError",
    "Graph",
    "InputError",
    "LimitError",
    "Node",
    "ShapeError",
    "SparseHessian",
    "SymbolNameError",
    "SymgradError",
    "TraceError",
    "UnsupportedOpError",
    "VerificationError",
    "__version__",
    "abs",
    "amax",
    "amin",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "budget",
    "cbrt",
    "check",
    "clip",
    "compile",
    "concatenate",
    "cos",
    "cosh",
    "cumprod",
    "cumsum",
    "custom_function",
    "derivative",
    "det",
    "diff",
    "dot",
    "einsum",
    "equal",
    "erf",
    "erfc",
    "exp",
    "exp2",
    "expm1",
    "from_sympy",
    "grad",
    "gradcheck",
    "gradient",
    "graph",
    "hessian",
    "hstack",
    "hvp",
    "hypot",
    "inv",
    "isfinite",
    "isinf",
    "isnan",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "lambdify",
    "latex",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "norm",
    "not_equal",
    "operation_count",
    "outer",
    "parse_formula",
    "pi",
    "prod",
    "reciprocal",
    "relu",
    "reshape",
    "sigmoid",
    "sign",
    "simplify",
    "sin",
    "sinc",
    "sinh",
    "softmax",
    "softplus",
    "solve",
    "sqrt",
    "square",
    "stack",
    "std",
    "stop_gradient",
    "sum",
    "symbols",
    "tan",
    "tanh",
    "tensordot",
    "to_sympy",
    "trace",
    "transpose",
    "value_and_grad",
    "var",
    "vjp",
    "vmap",
    "vstack",
    "where",
]
