"""A safe parser for formula strings: ``parse("3*a**2 - sin(b)")`` -> symgrad expressions.

Formulas come from users (a CLI argument, a student's claimed derivative), so
the text is never executed: it is parsed with :mod:`ast` and every node of the
tree is checked against an explicit whitelist before anything is built.
Nothing here calls ``eval``, ``exec``, ``compile`` or ``sympy.sympify``.

Accepted: int and float literals; names (free names become symbols, or array
symbols when declared in ``shapes``); the constants ``pi`` and ``e`` (unless
declared in ``shapes``, then they are symbols like any other name); ``+ - * /
** @``, unary ``+ -``; one comparison ``< <= > >=`` (a 0/1 value for
``where``); list and tuple literals (object arrays); integer subscripts of
arrays (``a[0]``, ``M[1, 0]``, ``a[-1]``); calls of symgrad's math functions by
plain name, with the aliases in :data:`ALIASES`.  Keyword arguments are
accepted only where a function takes them (``axis=`` of the reductions and
softmax, ``keepdims=``) and only with literal values.

Everything else raises :class:`~symgrad.errors.FormulaError` naming the
offending token and its 0-based column.  Resources are bounded so hostile
text cannot hang or crash the process: the text length, nesting depth,
integer literal size, the size of exact constants, array sizes and the total
number of scalar nodes built are all capped (the limits below).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import FormulaError, InputError, SymgradError
from .ir import builders as B
from .ir.node import Node, const, float_value, symbol
from .ir.ops import OPS
from .tracing import functions as F

__all__ = ["ALIASES", "CONSTANTS", "FUNCTIONS", "Formula", "FormulaError", "parse"]

MAX_LENGTH = 10_000
"""Longest formula accepted, in characters."""
MAX_DEPTH = 200
"""Deepest nesting of the syntax tree (a long chain like ``a + b + c + ...`` counts as one level)."""
MAX_CONST_BITS = 1 << 14
"""Largest exact constant (numerator or denominator, in bits) that folding may produce."""
MAX_ELEMENTS = 100_000
"""Largest array a formula may declare or produce."""
MAX_NDIM = 32
"""Most dimensions of an array a formula may declare or produce (numpy's iterators stop at 32)."""
MAX_WORK = 300_000
"""Most scalar results a formula may build in total, each counted with its operands (a matmul counts its products);
about three seconds of building at worst."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its value and the free names it uses."""

    value: object
    """A Node, or an object ndarray of Nodes for a list literal such as ``"[x*y, sin(x)]"``."""
    symbols: dict[str, object]
    """Free names in order of first appearance -> the symbol, or the array symbol for declared shapes."""


FUNCTIONS: dict[str, F.Composite] = {
    **{op.public: F.Composite(getattr(F, op.public), op.arity, op.arity) for op in OPS.values() if op.public},
    **{name: c for name, c in F.COMPOSITES.items() if c.formula},
}
"""The functions a formula may call, by symgrad's (numpy's) names: the op table's public ops and the composites."""
_UNARY_NAMES = tuple(name for name, f in FUNCTIONS.items() if f.max_args == 1 and not f.keywords)

ALIASES = {alias: op.public for op in OPS.values() for alias in op.aliases}
"""Other common spellings; ``max``/``min`` take exactly two arguments (elementwise, as ``maximum``)."""

CONSTANTS = {"pi": math.pi, "e": math.e, "E": math.e, "inf": math.inf, "nan": math.nan}
"""Named constants; a name declared in ``shapes`` is a symbol instead.  ``E`` (as in sympy), ``inf`` and ``nan``
are how ``str()`` prints ``sg.E`` and non-finite constants, so printed text reads back as the same values."""

_BINARY_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow", ast.MatMult: "@"}
_OP_TEXT = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_OP_HINTS = {
    ast.BitXor: "use ** for powers",
    ast.FloorDiv: "use / (floor division is not differentiable)",
    ast.Mod: "the remainder is not supported",
}
_COMPARISONS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_COMPARE_TEXT = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is",
    ast.In: "in",
    ast.NotIn: "not",
}
_CHAINS = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product", ast.MatMult: "product"}
_TOKEN = re.compile(r"\d[\w.]*|\w+|\*\*|//|<=|>=|==|!=|:=|->|\S")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


class _TooLarge(Exception):
    """Raised inside the builders' callbacks when a constant would grow past MAX_CONST_BITS."""


# -- the source text: positions and messages ---------------------------------------------


class _Source:
    """The formula text, with the conversions from ast's (line, byte column) to 0-based character columns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lead = len(text) - len(text.lstrip(" \t\f"))
        """Leading blanks, which ast.parse reads as an indent: parsed without them (sympy's parser accepts them)."""
        self.lines: list[str] = [m.group(0) for m in _LINE.finditer(text)]
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line)

    def offset(self, lineno: int, byte_col: int) -> int:
        if not 1 <= lineno <= len(self.lines):
            return len(self.text)
        line = self.lines[lineno - 1]
        if lineno == 1:
            byte_col += self.lead  # ASCII blanks: one byte each
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)

    def token_at(self, position: int) -> str:
        m = _TOKEN.search(self.text, position)
        return m.group(0) if m else ""

    def find(self, token: str, start: int, end: int) -> int:
        found = self.text.find(token, start, end)
        return found if found >= 0 else start

    def error(self, what: str, token: str, position: int, hint: str = "") -> FormulaError:
        shown = self.text if len(self.text) <= 80 else _excerpt(self.text, position)
        where = f"column {position}" + (" (the end of the formula)" if position >= len(self.text) else "")
        message = f'{what} {token!r} at {where} of "{shown}"' + (f": {hint}" if hint else "")
        return FormulaError(message, token, position)

    def error_at(self, node: ast.AST, what: str, hint: str = "") -> FormulaError:
        pos = self.start(node)
        return self.error(what, self.token_at(pos), pos, hint)


def _excerpt(text: str, position: int) -> str:
    lo = max(0, position - 30)
    return ("..." if lo else "") + text[lo : lo + 60] + ("..." if lo + 60 < len(text) else "")


# -- entry point ------------------------------------------------------------------------


def parse(text: str, shapes: Mapping[str, int | tuple[int, ...]] | None = None) -> Formula:
    """Parse ``text`` into symgrad expressions without executing any of it.

    ``shapes`` declares array-valued names (``{"a": (2,)}`` or ``{"a": 2}``);
    every other free name is a scalar symbol.  Symbols are interned by name,
    so ``parse("a**3").symbols["a"]`` is the very node ``sg.symbols("a")``.
    Raises :class:`FormulaError` (with ``token`` and ``position``) for
    anything outside the grammar in this module's docstring.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}", type(text).__name__, 0)
    source = _Source(text)
    declared = _normalize_shapes(shapes)
    tree = _parse_tree(source)
    _check_depth(tree, source)
    builder = _Builder(source, declared)
    builder.validate(tree)
    return Formula(builder.build(tree), dict(builder.symbols))


def _normalize_shapes(shapes) -> dict[str, tuple[int, ...]]:
    if shapes is None:
        return {}
    if not isinstance(shapes, Mapping):
        raise InputError(f"shapes must map names to shapes, got {type(shapes).__name__}")
    out: dict[str, tuple[int, ...]] = {}
    total = 0
    for name, shape in shapes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"shapes names {name!r}, which is not a valid symbol name")
        try:
            dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise InputError(f"the shape of {name!r} must be an int or a tuple of ints, got {shape!r}") from None
        if any(d < 0 for d in dims):
            raise InputError(f"the shape of {name!r} has a negative dimension: {dims}")
        if len(dims) > MAX_NDIM:
            raise InputError(f"the shape of {name!r} has {len(dims)} dimensions, at most {MAX_NDIM} are supported")
        total += math.prod(dims)
        if total > MAX_ELEMENTS:
            raise InputError(f"shapes declare more than {MAX_ELEMENTS} elements in all (at {name!r}: {dims})")
        out[name] = dims
    return out


def _parse_tree(source: _Source) -> ast.expr:
    """Python's parser, with every way it can fail turned into a FormulaError."""
    text = source.text
    if len(text) > MAX_LENGTH:
        raise source.error(f"formula too long ({len(text)} characters, at most {MAX_LENGTH});", "", MAX_LENGTH)
    if "\x00" in text:
        pos = text.index("\x00")
        raise source.error("invalid character", "\x00", pos)
    if not text.strip():
        raise source.error("empty formula", "", 0)
    try:
        return ast.parse(text[source.lead :], mode="eval").body
    except SyntaxError as exc:
        raise _syntax_error(source, exc) from None
    except (RecursionError, MemoryError):
        raise source.error("formula nested too deeply", source.token_at(0), 0) from None
    except ValueError as exc:  # e.g. integer literals over Python's digit limit
        raise source.error(f"invalid formula ({exc})", source.token_at(0), 0) from None


def _syntax_error(source: _Source, exc: SyntaxError) -> FormulaError:
    lineno = exc.lineno or 1
    line_start = source.starts[lineno - 1] if 1 <= lineno <= len(source.starts) else len(source.text)
    if lineno == 1:
        line_start += source.lead
    pos = min(max(line_start + (exc.offset or 1) - 1, 0), len(source.text))
    token = source.token_at(pos) if pos < len(source.text) else ""
    return source.error("invalid syntax" if token else "incomplete formula:", token, pos, exc.msg or "")


def _check_depth(root: ast.AST, source: _Source) -> None:
    """Refuse trees nested deeper than MAX_DEPTH (found iteratively; chains of + or * stay flat)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise source.error_at(node, "formula nested too deeply at", f"at most {MAX_DEPTH} levels")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):  # operator and context nodes have no position
                stack.append((child, depth + (0 if _same_chain(node, child) else 1)))


def _same_chain(parent: ast.AST, child: ast.AST) -> bool:
    if not (isinstance(parent, ast.BinOp) and isinstance(child, ast.BinOp) and child is parent.left):
        return False
    family = _CHAINS.get(type(parent.op))
    return family is not None and family == _CHAINS.get(type(child.op))


# -- constants: size guards ----------------------------------------------------------------


def _bits(value) -> int:
    if isinstance(value, int):
        return value.bit_length()
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return 0


def _const_bits(node: Node) -> int:
    """The largest exact constant among a node and its operands, two levels down (where folding puts them)."""
    best = _bits(node.value) if node.op == "const" else 0
    for a in node.args:
        if a.op == "const":
            best = max(best, _bits(a.value))
        for b in a.args:
            if b.op == "const":
                best = max(best, _bits(b.value))
    return best


def _guarded_pow(base, expo) -> Node:
    """``base ** expo``, refusing exact powers that would build constants beyond MAX_CONST_BITS.

    symgrad folds integer powers up to 64 exactly, so ``((2**64)**64)**64...``
    would otherwise build numbers of billions of digits; a constant base is
    folded in floating point instead (giving inf), a symbolic one is refused.
    """
    base, expo = B.as_node(base), B.as_node(expo)
    exact = expo.op == "const" and isinstance(expo.value, int) and abs(expo.value) <= 64
    if exact and _const_bits(base) * abs(expo.value) > MAX_CONST_BITS:
        if base.op != "const":
            raise _TooLarge
        with np.errstate(all="ignore"):
            return const(float(np.power(float_value(base.value), float(expo.value))))
    return B.pow(base, expo)


# -- the builder ------------------------------------------------------------------------------


class _Builder:
    """Checks the tree against the whitelist, then builds it bottom-up without recursion."""

    def __init__(self, source: _Source, shapes: dict[str, tuple[int, ...]]) -> None:
        self.source = source
        self.shapes = shapes
        self.symbols: dict[str, object] = {}
        self.work = 0

    # -- traversal ---------------------------------------------------------------------------

    @staticmethod
    def children(node: ast.AST) -> list[ast.expr]:
        """The operands whose values a node is built from (function names, indices and keywords are not)."""
        if isinstance(node, ast.BinOp):
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        if isinstance(node, ast.Compare):
            return [node.left, *node.comparators]
        if isinstance(node, (ast.List, ast.Tuple)):
            return list(node.elts)
        if isinstance(node, ast.Subscript):
            return [node.value]
        if isinstance(node, ast.Call):
            return list(node.args)
        return []

    def validate(self, root: ast.expr) -> None:
        """Pre-order walk, so the leftmost outermost unsupported construct is the one reported."""
        stack = [root]
        while stack:
            node = stack.pop()
            self.admit(node)
            stack.extend(reversed(self.children(node)))

    def build(self, root: ast.expr):
        values: dict[int, object] = {}
        stack: list[tuple[ast.expr, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            kids = self.children(node)
            if ready:
                values[id(node)] = self.build_node(node, [values[id(k)] for k in kids])
                continue
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
        return values[id(root)]

    # -- the whitelist ---------------------------------------------------------------------------

    def admit(self, node: ast.AST) -> None:
        src = self.source
        if isinstance(node, ast.Constant):
            self.admit_constant(node)
        elif isinstance(node, ast.Name):
            self.admit_name(node)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPS:
                raise self.operator_error(node, _OP_TEXT.get(type(node.op), "?"), _OP_HINTS.get(type(node.op), ""))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise src.error_at(node, "unsupported operator", "only unary + and - are supported")
        elif isinstance(node, ast.Compare):
            self.admit_compare(node)
        elif isinstance(node, (ast.List, ast.Tuple)):
            if not node.elts:
                raise src.error_at(node, "empty list")
        elif isinstance(node, ast.Subscript):
            self.index_of(node)
        elif isinstance(node, ast.Call):
            self.admit_call(node)
        else:
            raise self.unsupported(node)

    def admit_constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {str: "string", bytes: "bytes"}.get(type(value), "literal")
            pos = self.source.start(node)
            token = self.source.text[pos : self.source.end(node)][:30]
            raise self.source.error(f"unsupported {kind}", token, pos, "only int and float numbers are allowed")

    def name_text(self, node: ast.Name) -> str:
        """A name as the formula spells it: Python's parser NFKC-normalizes identifiers (the micro sign to Greek
        mu), so ``node.id`` would differ from ``sg.symbols("µ")``, from ``shapes`` and from sympy's reading."""
        return self.source.text[self.source.start(node) : self.source.end(node)]

    def admit_name(self, node: ast.Name) -> None:
        name = node.id
        if self.name_text(node) in self.shapes:
            return
        if name.startswith("__") and name.endswith("__"):
            raise self.source.error_at(node, "unsupported name")
        if name in FUNCTIONS or name in ALIASES:
            raise self.source.error_at(node, "function used without a call:", f"write {name}(...)")

    def admit_compare(self, node: ast.Compare) -> None:
        left = node.left
        for i, (op, right) in enumerate(zip(node.ops, node.comparators)):
            if type(op) not in _COMPARISONS:
                raise self.operator_error_between(
                    left, right, _COMPARE_TEXT.get(type(op), "?"), "unsupported comparison"
                )
            if i:
                token = _COMPARE_TEXT[type(op)]
                hint = "chained comparisons are not supported: combine two conditions with where(...)"
                raise self.operator_error_between(left, right, token, "unsupported comparison", hint)
            left = right

    def admit_call(self, node: ast.Call) -> None:
        src = self.source
        if not isinstance(node.func, ast.Name):
            raise src.error_at(node.func, "only functions called by name are supported; cannot call")
        name = node.func.id
        spec = FUNCTIONS.get(ALIASES.get(name, name))
        if spec is None:
            hint = "supported functions: " + ", ".join(sorted(FUNCTIONS))
            raise src.error_at(node.func, "unknown function", hint)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise src.error_at(arg, "unsupported syntax")
        for kw in node.keywords:
            self.keyword_value(kw, spec, name)
        if not spec.min_args <= len(node.args) <= spec.max_args:
            count = str(spec.min_args) if spec.min_args == spec.max_args else f"{spec.min_args} to {spec.max_args}"
            raise src.error_at(node.func, "wrong number of arguments for", f"it takes {count}, got {len(node.args)}")

    def keyword_value(self, kw: ast.keyword, spec: F.Composite, name: str):
        src = self.source
        if kw.arg is None:
            pos = src.start(kw)
            raise src.error("unsupported syntax", "**", pos)
        if kw.arg not in spec.keywords:
            allowed = ", ".join(sorted(spec.keywords)) or "none"
            raise src.error("unsupported keyword", kw.arg, src.start(kw), f"{name} accepts keywords: {allowed}")
        if kw.arg == "keepdims":
            if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
                return kw.value.value
            raise src.error_at(kw.value, "keepdims must be True or False, not")
        items = kw.value.elts if isinstance(kw.value, ast.Tuple) else [kw.value]
        axes = tuple(self.int_literal(i, "axis must be an integer literal or a tuple of them, not") for i in items)
        return axes if isinstance(kw.value, ast.Tuple) else axes[0]

    def int_literal(self, node: ast.expr, what: str) -> int:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value < 2**31:
            return sign * node.value
        if isinstance(node, ast.Slice):
            pos = self.source.find(":", self.source.start(node), self.source.end(node))
            raise self.source.error("unsupported syntax", ":", pos, "slices are not supported; index with integers")
        raise self.source.error_at(node, what)

    def index_of(self, node: ast.Subscript) -> tuple[int, ...]:
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return tuple(self.int_literal(i, "indices must be integer literals, not") for i in items)

    # -- error helpers for tokens that are not at a node's start -------------------------------

    def operator_error(self, node: ast.BinOp, token: str, hint: str = "") -> FormulaError:
        return self.operator_error_between(node.left, node.right, token, "unsupported operator", hint)

    def operator_error_between(self, left, right, token: str, what: str, hint: str = "") -> FormulaError:
        src = self.source
        pos = src.find(token, src.end(left), src.start(right))
        return src.error(what, token, pos, hint)

    def unsupported(self, node: ast.AST) -> FormulaError:
        """The error for a construct outside the grammar, pointing at its own keyword or symbol."""
        src = self.source
        start = src.start(node)
        if isinstance(node, ast.Attribute):
            pos = src.find(".", src.end(node.value), src.end(node))
            return src.error("unsupported syntax", "." + node.attr, pos, "attribute access is not allowed")
        if isinstance(node, ast.BoolOp):
            word = "and" if isinstance(node.op, ast.And) else "or"
            pos = src.find(word, src.end(node.values[0]), src.start(node.values[1]))
            return src.error("unsupported syntax", word, pos, "use where(...) with comparisons")
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            first = node.key if isinstance(node, ast.DictComp) else node.elt
            pos = src.find("for", src.end(first), src.start(node.generators[0].target))
            return src.error("unsupported syntax", "for", pos, "comprehensions are not allowed")
        if isinstance(node, ast.NamedExpr):
            pos = src.find(":=", src.end(node.target), src.start(node.value))
            return src.error("unsupported syntax", ":=", pos)
        if isinstance(node, ast.IfExp):
            pos = src.find("if", src.end(node.body), src.start(node.test))
            return src.error("unsupported syntax", "if", pos, "use where(cond, a, b)")
        if isinstance(node, ast.JoinedStr):
            return src.error("unsupported string", src.text[start : src.end(node)][:30], start)
        return src.error("unsupported syntax", src.token_at(start), start)

    # -- building ---------------------------------------------------------------------------------

    def build_node(self, node: ast.expr, values: list):
        try:
            result = self.compute(node, values)
        except FormulaError:
            raise
        except _TooLarge:
            raise self.error_for(
                node, "numbers grow too large at", f"exact constants are capped at {MAX_CONST_BITS} bits"
            )
        except (SymgradError, ValueError, TypeError, ArithmeticError, IndexError) as exc:
            raise self.error_for(node, "cannot compute", str(exc)) from None
        self.check_result(node, result)
        return result

    def error_for(self, node: ast.expr, what: str, hint: str) -> FormulaError:
        if isinstance(node, ast.BinOp):
            return self.operator_error_between(node.left, node.right, _OP_TEXT[type(node.op)], what, hint)
        if isinstance(node, ast.Compare):
            op = type(node.ops[0])
            return self.operator_error_between(node.left, node.comparators[0], _COMPARE_TEXT[op], what, hint)
        return self.source.error_at(node, what, hint)

    def check_result(self, node: ast.expr, result) -> None:
        cells = list(result.flat) if isinstance(result, np.ndarray) else [result]
        self.work += sum(1 + len(cell.args) for cell in cells)  # n-ary nodes cost their arity to build
        if self.work > MAX_WORK:
            raise self.error_for(node, "formula too large to build at", f"at most {MAX_WORK} scalar results")
        for cell in cells:
            if _const_bits(cell) > MAX_CONST_BITS:
                raise self.error_for(
                    node, "numbers grow too large at", f"exact constants are capped at {MAX_CONST_BITS} bits"
                )

    def compute(self, node: ast.expr, values: list):
        if isinstance(node, ast.Constant):
            return const(node.value)
        if isinstance(node, ast.Name):
            return self.name_value(self.name_text(node))
        if isinstance(node, ast.BinOp):
            return self.binary(node, *values)
        if isinstance(node, ast.UnaryOp):
            x = values[0]
            if isinstance(node.op, ast.UAdd):
                return x
            if isinstance(node.operand, ast.Constant):  # a negative literal as Python reads it: -0.0 keeps its sign
                return const(-node.operand.value)
            return B.elementwise(lambda v: B.mul(-1, v), x)
        if isinstance(node, ast.Compare):
            self.check_size(node, [np.shape(v) for v in values])
            return _normalize(B.binary(_COMPARISONS[type(node.ops[0])], *_lift(values)))
        if isinstance(node, (ast.List, ast.Tuple)):
            return self.stack(node, values)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, values[0])
        return self.call(node, values)

    def name_value(self, name: str):
        if name not in self.shapes and name in CONSTANTS:
            return const(CONSTANTS[name])
        if name not in self.symbols:
            shape = self.shapes.get(name, ())
            self.symbols[name] = F.array_symbol(name, shape) if shape else symbol(name)
        return self.symbols[name]

    def binary(self, node: ast.BinOp, left, right):
        kind = _BINARY_OPS[type(node.op)]
        if kind == "@":
            self.check_matmul(node, np.shape(left), np.shape(right))
            return _normalize(F.matmul(left, right))
        self.check_size(node, [np.shape(left), np.shape(right)])
        left, right = _lift([left, right])
        if kind == "pow":
            return _normalize(B.elementwise(_guarded_pow, left, right))
        return _normalize(B.binary(kind, left, right))

    def check_size(self, node: ast.expr, shapes: list[tuple[int, ...]]) -> None:
        """Refuse before building: a broadcast that does not fit or is larger than MAX_ELEMENTS."""
        try:
            size = math.prod(np.broadcast_shapes(*shapes))
        except ValueError:
            raise self.error_for(node, "shapes do not broadcast at", " and ".join(map(str, shapes))) from None
        if size > MAX_ELEMENTS or self.work + size > MAX_WORK:
            raise self.error_for(node, "result too large at", f"{size} elements")

    def check_matmul(self, node: ast.expr, a: tuple[int, ...], b: tuple[int, ...]) -> None:
        if not a or not b:
            return  # matmul itself reports the missing dimension
        inner = a[-1]
        outer = math.prod(a[:-1]) * math.prod(b[:-2]) * (b[-1] if len(b) > 1 else 1)
        if self.work + outer * max(inner, 1) > MAX_WORK:
            raise self.error_for(node, "result too large at", f"a product of shapes {a} and {b}")

    def stack(self, node: ast.expr, items: list):
        shapes = {np.shape(v) for v in items}
        if len(shapes) > 1:
            raise self.source.error_at(node, "list items of different shapes in", ", ".join(map(str, sorted(shapes))))
        shape = (len(items), *shapes.pop())
        if len(shape) > MAX_NDIM:
            raise self.source.error_at(node, "lists nested too deeply at", f"arrays have at most {MAX_NDIM} dimensions")
        if math.prod(shape) > MAX_ELEMENTS:
            raise self.source.error_at(node, "list too large at")
        out = np.empty(shape, dtype=object)
        for i, item in enumerate(items):
            out[i] = item
        return out

    def subscript(self, node: ast.Subscript, value):
        index = self.index_of(node)
        pos = self.source.find("[", self.source.end(node.value), self.source.end(node))
        if not isinstance(value, np.ndarray):
            raise self.source.error("cannot index a scalar with", "[", pos)
        if len(index) > value.ndim:
            raise self.source.error("too many indices", "[", pos, f"the array has shape {value.shape}")
        for i, n in zip(index, value.shape):
            if not -n <= i < n:
                raise self.source.error("index out of range", "[", pos, f"index {i} for a dimension of size {n}")
        return _normalize(value[index])

    def call(self, node: ast.Call, args: list):
        name = node.func.id
        spec = FUNCTIONS[ALIASES.get(name, name)]
        kwargs = {kw.arg: self.keyword_value(kw, spec, name) for kw in node.keywords}
        shapes = [np.shape(a) for a in args]
        if spec.fn in (F.matmul, F.dot):
            self.check_matmul(node, *shapes)
        else:
            self.check_size(node, shapes)
            args = _lift(args)
        return _normalize(spec.fn(*args, **kwargs))


def _lift(values: list) -> list:
    """Scalars as 0-d object arrays when an array is among the operands.

    numpy hands a bare Node operand of ``np.frompyfunc`` to the Node's own
    ``__array_ufunc__``, which refuses it, so ``array * scalar_symbol`` would
    fail inside symgrad's elementwise builder; a 0-d array is broadcast instead.
    """
    if not any(isinstance(v, np.ndarray) and v.ndim for v in values):
        return values
    out = []
    for v in values:
        if isinstance(v, Node):
            cell = np.empty((), dtype=object)
            cell[()] = v
            v = cell
        out.append(v)
    return out


def _normalize(value):
    """Function results as a Node or an object array of Nodes (numbers become constants)."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return B.as_node(value.item())
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(*value.shape):
            out[idx] = B.as_node(value[idx])
        return out
    return B.as_node(value)
