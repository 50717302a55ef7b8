"""The ``symgrad`` command: derivatives of a formula typed in a shell.

    symgrad grad "x1**3 + x2**2 + 4*x1*x2 + 5" --at x1=3 x2=4
    symgrad hessian "x1**3 + x2**2 + 4*x1*x2 + 5" --at x1=3 x2=4
    symgrad diff "exp(sin(x))" --wrt x --order 4
    symgrad jacobian "[x*y, sin(x)]" --wrt x,y
    symgrad check "3*a**3*b**2" --wrt b --claimed "-2*b"
    symgrad codegen "x*sin(y)" --what grad --backend c
    symgrad graph "exp(sin(x))*y" --grad -o graph.svg

Formulas (and values given with ``--at``) are read only by
:func:`symgrad.formula.parse`, which never executes the text.  Output is
readable text, or ``--json`` / ``--latex`` for scripts and notebooks.

Exit status: 0 success; 1 ``check`` found the claimed derivative wrong; 2 a
usage, formula, shape or backend error (the message goes to stderr); 3 an
internal error, which is a symgrad bug (``SYMGRAD_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..api.expressions import compile as compile_outputs
from ..api.expressions import diff, gradient, hessian, jacobian
from ..errors import InputError, SymgradError
from ..formula import Formula, parse
from ..graph import graph
from ..ir.node import Node, symbol, toposort
from ..limits import MAX_NODES_ENV, TIME_LIMIT_ENV, TimeSliceExpired, budget, charge, checkpoint, time_slice
from ..limits import current as current_budget
from ..sympy_bridge import latex, simplify
from ..tracing.functions import array_symbol
from .output import Report, Row, leibniz, to_json, to_latex, to_text
from .parser import GRAPH_FORMATS, SIMPLIFY_LIMIT, SIMPLIFY_SECONDS, build_parser, join_dash_values

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports
_LIMIT_HINT = (
    f"lower the work with a smaller formula or shapes, or raise the limits with --max-nodes / --time-limit "
    f"(or ${MAX_NODES_ENV} / ${TIME_LIMIT_ENV})"
)


# -- main ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser, kinds = build_parser()
    args_list = join_dash_values(sys.argv[1:] if argv is None else list(argv), kinds)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse has printed usage or help
        return int(exc.code or 0)
    try:
        with budget(args.max_nodes, args.time_limit, interrupt=True, hint=_LIMIT_HINT):
            return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as a shell's SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except SymgradError as exc:
        print(f"symgrad {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:  # the budget should stop a job first; if memory is short anyway, say what to do
        print(f"symgrad {args.command}: error: out of memory; {_LIMIT_HINT}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line for users, the traceback on request
        if os.environ.get("SYMGRAD_DEBUG"):
            raise
        print(
            f"symgrad {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in symgrad; run again with SYMGRAD_DEBUG=1 for the traceback.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


# -- reading the command line: formula, shapes, variables, point ------------------------------------------


def split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside brackets: ``"a[0, 1],y"`` -> ``["a[0, 1]", "y"]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _name_value(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"{option} takes NAME=VALUE items, got {item!r}")
    return name.strip(), value.strip()


def parse_shapes(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["a=2", "M=2x3"]`` -> ``{"a": (2,), "M": (2, 3)}`` (also ``M=2,3`` and ``M=(2,3)``)."""
    shapes = {}
    for item in items:
        name, text = _name_value(item, "--shape")
        if name in shapes:
            raise InputError(f"--shape gives {name} twice ({item} after an earlier shape): give each once")
        dims = text.strip("()[] ").replace("x", ",").replace("*", ",").split(",")
        try:
            shape = tuple(int(d) for d in dims if d.strip())
        except ValueError:
            raise InputError(f"--shape {item!r}: a shape is a number or numbers like 2x3") from None
        if not shape or any(d < 1 for d in shape):
            raise InputError(f"--shape {item!r}: dimensions must be positive")
        shapes[name] = shape
    return shapes


@dataclass
class _SimplifyClock:
    """The CPU seconds left for sympy, shared by all the formulas one command prints.

    CPU time, not wall time: what gets simplified does not depend on how loaded the machine is.
    """

    left: float = SIMPLIFY_SECONDS

    def run(self, expr, max_size: int):
        """``expr`` simplified, or as built once the CPU time is spent (sympy's simplify has no bound of its own)."""
        if self.left <= 0:
            return expr
        start = time.process_time()
        try:
            with time_slice(self.left):
                return simplify(expr, max_size=max_size)
        except TimeSliceExpired:
            self.left = 0.0
            print(
                f"symgrad: simplifying took over {SIMPLIFY_SECONDS:g} s of CPU time; the rest is printed as built "
                "(--simplify 0 skips simplification)",
                file=sys.stderr,
            )
            return expr
        finally:
            self.left -= time.process_time() - start


@dataclass(frozen=True)
class Problem:
    """What every command starts from: the formula text, its parse, the declared shapes."""

    text: str
    formula: Formula
    shapes: dict[str, tuple[int, ...]]
    simplify_limit: int = SIMPLIFY_LIMIT
    clock: _SimplifyClock = field(default_factory=_SimplifyClock, compare=False)

    @property
    def value(self):
        return self.formula.value

    def simplify(self, expr):
        """``expr`` as printed: simplified with sympy within the ``--simplify`` size and the time allowance."""
        checkpoint()
        return self.clock.run(expr, self.simplify_limit) if self.simplify_limit > 0 else expr

    def scalar(self, what: str) -> Node:
        """The formula, which must be one scalar expression for ``what``."""
        if not isinstance(self.value, Node):
            raise InputError(f"{what} needs one scalar formula; this one is a list of shape {np.shape(self.value)}")
        return self.value

    def outputs(self) -> list[Node]:
        """The formula's scalar expressions: one, or the entries of a list formula."""
        return list(np.asarray(self.value, dtype=object).reshape(-1))

    def variables(self, wrt: str | None) -> list[Node]:
        """The scalar symbols named by ``--wrt`` (an array name gives all its elements); default: all."""
        if not wrt:
            return [s for v in self.formula.symbols.values() for s in np.asarray(v, dtype=object).reshape(-1)]
        out: list[Node] = []
        for item in split_top_level(wrt):
            value = self.symbol_named(item)
            out += list(np.asarray(value, dtype=object).reshape(-1))
        return out

    def symbol_named(self, text: str):
        """A symbol, array symbol or array element named on the command line (``x``, ``a``, ``a[1]``)."""
        if text.isidentifier():
            found = self.formula.symbols.get(text)
            if found is not None:
                return found
        value = parse(text, self.shapes).value
        flat = list(np.asarray(value, dtype=object).reshape(-1))
        if not flat or any(not isinstance(v, Node) or v.op != "sym" for v in flat):
            raise InputError(f"--wrt names {text!r}, which is not a symbol")
        return value


def load_problem(args: argparse.Namespace) -> Problem:
    """Parse the formula (given as the argument or as --formula) with the declared shapes."""
    if args.formula is not None and args.formula_option is not None:
        raise InputError("give the formula once (as the argument or as --formula)")
    text = args.formula if args.formula is not None else args.formula_option
    if text is None:
        raise InputError("no formula given")
    shapes = parse_shapes(args.shape)
    limit = getattr(args, "simplify", SIMPLIFY_LIMIT)
    return Problem(text, parse(text, shapes), shapes, limit)


def number_value(text: str, name: str, shape: tuple[int, ...]):
    """The value of ``name`` from ``--at``: a formula of numbers only (``-1``, ``pi/4``, ``[1, 2]``)."""
    formula = parse(text)
    if formula.symbols:
        raise InputError(f"--at {name}={text}: the value may not use symbols ({', '.join(formula.symbols)})")
    try:
        value = np.vectorize(_point_float, otypes=[float])(np.asarray(formula.value, dtype=object))
    except OverflowError:
        raise InputError(f"--at {name}={text}: the value is too large for a float") from None
    if value.shape != shape:
        want = f"shape {shape}" if shape else "a number"
        raise InputError(f"--at {name}={text}: {name} needs {want}, got shape {value.shape}")
    return float(value) if not shape else value


def _point_float(node: Node) -> float:
    """A value's float; an exact number past the float range (``10**400``) raises OverflowError, as ``float`` does
    (``float(node)`` would round it to inf, as a computation in floats reaches)."""
    return float(node.value) if node.op == "const" else float(node)


def parse_point(problem: Problem, items: Sequence[str]) -> dict[str, object]:
    """``--at`` as ``{name: float or array}``, each name checked against the formula's symbols."""
    point: dict[str, object] = {}
    for item in items:
        name, text = _name_value(item, "--at")
        if name not in problem.formula.symbols and name not in problem.shapes:
            known = ", ".join(problem.formula.symbols) or "none"
            raise InputError(f"--at gives a value for {name!r}, which is not a symbol of the formula ({known})")
        if name in point:
            raise InputError(f"--at gives {name} twice ({name}={text} after an earlier value): give each once")
        point[name] = number_value(text, name, problem.shapes.get(name, ()))
    return point


# -- computing the results ------------------------------------------------------------------------------


def _runs(variables: Sequence[Node]) -> list[tuple[Node, int]]:
    """``[x, x, y]`` -> ``[(x, 2), (y, 1)]``."""
    runs: list[tuple[Node, int]] = []
    for v in variables:
        if runs and runs[-1][0] is v:
            runs[-1] = (v, runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    return runs


def _row(problem: Problem, expr: Node, variables: Sequence[Node], what: str = "f") -> Row:
    name, tex = leibniz(_runs(variables), what)
    return Row(name, tex, tuple(v.name for v in variables), expr)


def evaluate_at(exprs: Sequence[Node], point: dict[str, object], shapes: dict[str, tuple[int, ...]]) -> list[float]:
    """Each expression's value at ``point``, with compiled code; every symbol used needs a value."""
    names = {n.value[0] for n in toposort(list(exprs)) if n.op == "sym"}
    missing = sorted(names - set(point))
    if missing:
        raise InputError(f"--at gives no value for {', '.join(missing)}")
    inputs = [array_symbol(name, shapes[name]) if shapes.get(name) else symbol(name) for name in point]
    fn = compile_outputs(tuple(exprs), inputs=inputs)
    with np.errstate(all="ignore"):  # a nan or inf shows in the report; numpy's warning would cite generated code
        values = fn(*point.values())
    return [float(r) for r in values]


def make_report(command: str, problem: Problem, args, variables, rows, matrix=None) -> Report:
    """The report, with every row's value (and f's) when ``--at`` gives a point.

    Values are computed from the derivatives as built, as ``sg.grad`` computes them; only the printed
    formulas are simplified with sympy, which may widen the real domain (``sqrt(x)**2 -> x`` is 1, not
    nan, at x = -1) or take a limit (``(x**2 - 1)/(x - 1) -> x + 1`` at x = 1).
    """
    point = parse_point(problem, args.at) if args.at else None
    value = None
    if point is not None:
        head = [problem.value] if isinstance(problem.value, Node) else []
        values = evaluate_at(head + [r.expr for r in rows], point, problem.shapes)
        value = values[0] if head else None
        rows = [replace(r, value=v) for r, v in zip(rows, values[len(head) :])]
    rows = [replace(r, expr=problem.simplify(r.expr)) for r in rows]
    shown = problem.simplify(problem.value)
    names = tuple(v.name for v in variables)
    symmetric = command == "hessian"
    return Report(command, problem.text, shown, names, tuple(rows), point, value, matrix, symmetric)


def written_size(roots: Sequence[Node], cap: int) -> int:
    """How many nodes ``roots`` have written out as trees (at most ``cap + 1``), as the printers write them.

    A shared node counts once per use, so a 30th derivative of a few thousand nodes would print as gigabytes.
    """
    size: dict[Node, int] = {}
    for n in toposort(list(roots)):
        total = 1
        for a in n.args:
            total += size[a]
        size[n] = min(total, cap + 1)
    return min(sum(size[r] for r in roots), cap + 1)


def _charge_printed(report: Report) -> None:
    """Count the printed size of the report's formulas against the budget, before printing them."""
    shown = [v for v in np.asarray(report.shown, dtype=object).reshape(-1) if isinstance(v, Node)]
    running = current_budget()
    cap = running.max_nodes if running is not None else 10**9
    charge(written_size([r.expr for r in report.rows] + shown, cap), "nodes with the printed formulas written out")


def _emit(report: Report, args: argparse.Namespace) -> int:
    _charge_printed(report)
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print(to_latex(report) if args.latex else to_text(report))
    return EXIT_OK


# -- the commands ------------------------------------------------------------------------------------------


def run_grad(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    f = problem.scalar("grad")
    variables = problem.variables(args.wrt)
    charge(len(variables), "formulas")
    rows = [_row(problem, g, [v]) for v, g in zip(variables, gradient(f, variables))]
    return _emit(make_report("grad", problem, args, variables, rows), args)


def run_hessian(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    f = problem.scalar("hessian")
    variables = problem.variables(args.wrt)
    n = len(variables)
    H = _hessian(f, variables)
    rows = [_row(problem, H[i, j], [variables[i], variables[j]]) for i in range(n) for j in range(n)]
    return _emit(make_report("hessian", problem, args, variables, rows, (n, n)), args)


def _hessian(f: Node, variables: Sequence[Node]) -> np.ndarray:
    """The Hessian as an array of formulas, its n*n entries counted against the budget before any is built."""
    charge(len(variables) ** 2, "Hessian entries")
    return hessian(f, variables) if variables else np.empty((0, 0), dtype=object)


def run_jacobian(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    outputs = problem.outputs()
    variables = problem.variables(args.wrt)
    charge(len(outputs) * len(variables), "Jacobian entries")
    J = jacobian(np.array(outputs, dtype=object), variables) if variables else np.empty((len(outputs), 0), object)
    names = [f"f[{i}]" if len(outputs) > 1 else "f" for i in range(len(outputs))]
    rows = [_row(problem, J[i, j], [v], names[i]) for i in range(len(outputs)) for j, v in enumerate(variables)]
    return _emit(make_report("jacobian", problem, args, variables, rows, J.shape), args)


def run_diff(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    if not args.wrt:
        raise InputError("diff needs --wrt: the variable(s) to differentiate by")
    if args.order < 1:
        raise InputError(f"--order must be at least 1, got {args.order}")
    variables = problem.variables(args.wrt)
    outputs = problem.outputs()
    charge(len(outputs) * len(variables) * args.order, "nodes (a derivative of order k builds at least k)")
    order = [v for v in variables for _ in range(args.order)]
    spec = [item for v, k in _runs(order) for item in (v, k)]  # sympy's convention: x, 3, y, 1
    names = ["f" if isinstance(problem.value, Node) else f"f[{i}]" for i in range(len(outputs))]
    rows = [_row(problem, diff(out, *spec), order, name) for out, name in zip(outputs, names)]
    return _emit(make_report("diff", problem, args, variables, rows), args)


def run_check(args: argparse.Namespace) -> int:
    from ..checker import check  # imported here: the other commands do not need the checker

    problem = load_problem(args)
    wanted = [problem.symbol_named(item) for item in split_top_level(args.wrt or "")]
    wrt = None if not wanted else wanted[0] if len(wanted) == 1 else wanted
    point = parse_point(problem, args.at) if args.at else None
    # the claim goes to the checker as text: it splits "[9*a**2, -2*b]" per variable and "[[..], [..]]" per
    # Hessian entry, and reads a number given with --at as a value at that point, not as a constant formula
    result = check(problem.value, args.claimed, wrt=wrt, at=point, order=args.order, shapes=problem.shapes)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif args.latex:
        relation = "=" if result else r"\neq"
        claimed = parse(args.claimed, problem.shapes).value
        print(f"{_derivative_latex(problem.value, wrt, args.order)} {relation} {latex(claimed)}")
    else:
        print(str(result))
    return EXIT_OK if result else EXIT_CHECK_FAILED


def _derivative_latex(f, wrt, order: int = 1) -> str:
    power = "" if order == 1 else f"^{{{order}}}"
    if isinstance(wrt, Node):
        return rf"\frac{{\partial{power}}}{{\partial {latex(wrt)}{power}}}\left({latex(f)}\right)"
    return rf"\nabla{power}\left({latex(f)}\right)"


def run_codegen(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    variables = problem.variables(args.wrt)
    builders: dict[str, Callable[[], object]] = {
        "value": lambda: problem.value,
        "grad": lambda: gradient(problem.scalar("codegen --what grad"), variables),
        "hessian": lambda: _hessian(problem.scalar("codegen --what hessian"), variables),
        "jacobian": lambda: jacobian(np.array(problem.outputs(), dtype=object), variables),
    }
    outputs = builders[args.what]()
    inputs = list(problem.formula.symbols.values())
    known = {s for v in inputs for s in np.asarray(v, dtype=object).reshape(-1)}
    inputs += [v for v in variables if v not in known]  # --wrt names the formula does not use
    # printing code needs no compiler, CuPy or GPU: render the requested backend from a numpy build
    source = compile_outputs(outputs, inputs=inputs, dtype=args.dtype).source_for(args.backend)
    if args.json:
        names = [v.name if isinstance(v, Node) else v.flat[0].value[0] for v in inputs]
        info = {"backend": args.backend, "what": args.what, "dtype": args.dtype, "inputs": names}
        print(json.dumps({**info, "source": source}, indent=2))
    else:
        sys.stdout.write(source.rstrip("\n") + "\n")
    return EXIT_OK


def run_graph(args: argparse.Namespace) -> int:
    problem = load_problem(args)
    fmt = args.format or (os.path.splitext(args.output)[1].lstrip(".").lower() if args.output else "dot")
    if fmt not in GRAPH_FORMATS:
        raise InputError(f"cannot tell the picture format from {args.output!r}: use --format {'|'.join(GRAPH_FORMATS)}")
    if fmt in ("png", "pdf") and not args.output:
        raise InputError(f"--format {fmt} writes a binary file: give one with -o FILE")
    variables = problem.variables(args.wrt) if args.wrt else None
    picture = graph(problem.value, grad=args.grad, wrt=variables, max_nodes=args.max_drawn, style=args.style)
    if args.output:
        picture.render(args.output, format=fmt)
        print(f"wrote {args.output}: {len(picture.nodes)} nodes, {len(picture.edges)} edges", file=sys.stderr)
    elif fmt == "dot":
        sys.stdout.write(picture.to_dot())
    else:
        sys.stdout.write(picture.to_svg())
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "grad": run_grad,
    "hessian": run_hessian,
    "jacobian": run_jacobian,
    "diff": run_diff,
    "check": run_check,
    "codegen": run_codegen,
    "graph": run_graph,
}
