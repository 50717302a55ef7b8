"""symgrad: exact derivatives as readable formulas and as fused compiled code.

    import symgrad as sg
    x, y = sg.symbols("x y")
    sg.diff(x**3 * y, x)             # 3*x**2*y
    sg.grad(lambda x, y: x**3 * y)   # a compiled gradient: floats or arrays in

The public API is re-exported here and nowhere else.
"""

from ._version import __version__
from .api import compile, diff, gradient, hessian, jacobian
from .compiled import Compiled
from .errors import (
    BackendError,
    DiffError,
    InputError,
    ShapeError,
    SymgradError,
    TraceError,
    UnsupportedOpError,
)
from .functions import (
    abs,
    arccos,
    arcsin,
    arctan,
    arctan2,
    clip,
    cos,
    cosh,
    dot,
    exp,
    expm1,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    prod,
    relu,
    sigmoid,
    sign,
    sin,
    sinh,
    softmax,
    sqrt,
    square,
    stop_gradient,
    sum,
    symbols,
    tan,
    tanh,
    where,
)
from .ir import Node
from .schedule import operation_count
from .sympy_bridge import from_sympy, latex, simplify, to_sympy
from .transforms import derivative, grad, hvp, jvp, value_and_grad, vjp

__all__ = [
    "__version__", "compile", "diff", "gradient", "hessian", "jacobian", "Compiled", "Node",
    "BackendError", "DiffError", "InputError", "ShapeError", "SymgradError", "TraceError", "UnsupportedOpError",
    "abs", "arccos", "arcsin", "arctan", "arctan2", "clip", "cos", "cosh", "dot", "exp", "expm1", "log",
    "log1p", "log2", "log10", "log_softmax", "logsumexp", "matmul", "maximum", "mean", "minimum", "prod",
    "relu", "sigmoid", "sign", "sin", "sinh", "softmax", "sqrt", "square", "stop_gradient", "sum", "symbols",
    "tan", "tanh", "where", "operation_count", "from_sympy", "latex", "simplify", "to_sympy",
    "derivative", "grad", "hvp", "jvp", "value_and_grad", "vjp",
]
