"""The ``symgrad`` command line's grammar: the argparse parser, and the pre-pass that lets values start with '-'.

Split from :mod:`symgrad.cli` (which runs the commands) to keep each module one screenful of concerns.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._version import __version__
from ..limits import DEFAULT_MAX_NODES, DEFAULT_SECONDS, MAX_NODES_ENV, TIME_LIMIT_ENV

BACKENDS = ("numpy", "c", "cuda")
WHAT = ("value", "grad", "hessian", "jacobian")
GRAPH_FORMATS = ("dot", "svg", "png", "pdf")
SIMPLIFY_LIMIT = 150
"""Formulas up to this many nodes (written out as a tree) are simplified with sympy before printing:
more than the library's default, since a person reads them (a 4th derivative of exp(sin(x)) needs ~100)."""
SIMPLIFY_SECONDS = 2.0
"""CPU time all of a command's sympy simplifications share; formulas left when it is spent are printed as built
(sympy's simplify has no time bound of its own: the gradient of (x+y+1)**64 alone takes it 8 s)."""


# -- the '-value' pre-pass ------------------------------------------------------------------------


@dataclass
class _OptionKinds:
    """Which option strings take one value, a list of values, or none (for :func:`join_dash_values`)."""

    single: set[str] = field(default_factory=set)
    lists: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=lambda: {"-h", "--help", "--version"})

    def add(self, parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
        parser.add_argument(*flags, **kwargs)
        if kwargs.get("action") in ("store_true", "version"):
            self.flags.update(flags)
        elif kwargs.get("nargs") == "+":
            self.lists.update(flags)
        else:
            self.single.update(flags)

    def known(self, token: str) -> bool:
        name = token.split("=", 1)[0] if token.startswith("--") else token
        return name in self.single or name in self.lists or name in self.flags


# NAME=VALUE, not a formula such as x<=1; a name starts as a Python identifier does, with any letter (θ=2)
_LIST_ITEM = re.compile(r"\s*[^\W\d][\w\[\], ]*=(?!=)")


def join_dash_values(argv: Sequence[str], kinds: _OptionKinds) -> list[str]:
    """Let values start with '-' (``--claimed -2*b``, a formula ``-x**2``), which argparse takes for options.

    An option's value is attached to it (``--claimed=-2*b``), each item of a list
    option gets its own ``--at=x=-1`` (so a formula after the list is not swallowed
    by it), and any other '-' word that is not an option is the formula
    (``--formula=-x**2``).  Everything after ``--`` is left alone.
    """
    out: list[str] = []
    pending: str | None = None  # an option waiting for its one value
    open_list: str | None = None  # a list option whose items are being read
    for i, token in enumerate(argv):
        if token == "--":
            return out + list(argv[i:])
        if pending is not None:
            if token.startswith("-") and not kinds.known(token):
                out[-1] = f"{pending}={token}" if pending.startswith("--") else pending + token
                pending = None
                continue
            pending = None
        if open_list is not None and _LIST_ITEM.match(token):
            item = f"{open_list}={token}"
            if out[-1] == open_list:  # the bare option itself: its first item replaces it
                out[-1] = item
            else:
                out.append(item)
            continue
        open_list = None
        if kinds.known(token):
            out.append(token)
            if "=" not in token:
                pending = token if token in kinds.single else None
                open_list = token if token in kinds.lists else None
        elif token.startswith("-") and not token.startswith("--"):
            out.append(f"--formula={token}")
        else:
            out.append(token)
    return out


# -- the parser ----------------------------------------------------------------------------------------

_FORMULA_HELP = 'the formula, e.g. "x1**3 + 4*x1*x2" or "[x*y, sin(x)]" (names are symbols; numpy\'s function names)'
_EPILOG = (
    "Exit status: 0 ok; 1 check found the claim wrong; 2 usage, formula, backend error or a work limit reached; "
    "3 internal error. Values may start with '-': --claimed -2*b, --at x=-1."
)


def _common(p: argparse.ArgumentParser, kinds: _OptionKinds, *, wrt_help: str, at: bool = True) -> None:
    p.add_argument("formula", nargs="?", help=_FORMULA_HELP)
    kinds.add(p, "--formula", dest="formula_option", metavar="TEXT", help="the formula (for one that starts with '-')")
    kinds.add(p, "--wrt", metavar="NAMES", help=wrt_help)
    kinds.add(
        p,
        "--shape",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME=SHAPE",
        help="declare a vector or matrix symbol: a=2, M=2x3 (repeatable)",
    )
    _limits(p, kinds)
    if at:
        kinds.add(
            p,
            "--at",
            action="extend",
            nargs="+",
            default=[],
            metavar="NAME=VALUE",
            help="evaluate at a point: x=3 y=-1 a=[1,2] (values are formulas of numbers: pi/4)",
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _limits(p: argparse.ArgumentParser, kinds: _OptionKinds) -> None:
    """The work budget of the job (see symgrad.limits): defaults from $SYMGRAD_MAX_NODES / $SYMGRAD_TIME_LIMIT."""
    kinds.add(
        p,
        "--max-nodes",
        type=_positive_int,
        metavar="N",
        help=f"stop after building N graph nodes, each counted with its operands (default ${MAX_NODES_ENV} or "
        f"{DEFAULT_MAX_NODES:,})",
    )
    kinds.add(
        p,
        "--time-limit",
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"stop after this many seconds (default ${TIME_LIMIT_ENV} or {DEFAULT_SECONDS:g})",
    )


def _output_modes(p: argparse.ArgumentParser, kinds: _OptionKinds, latex: bool = True) -> None:
    group = p.add_mutually_exclusive_group()
    kinds.add(group, "--json", action="store_true", help="print JSON")
    if latex:
        kinds.add(group, "--latex", action="store_true", help="print LaTeX")


_DERIVATIVE_COMMANDS = {
    "grad": "gradient: formulas and values",
    "hessian": "Hessian matrix: formulas and values",
    "jacobian": "Jacobian of a formula or a list of formulas",
    "diff": "a derivative of any order, or a mixed partial",
}
_DIFF_WRT = "differentiate by each in turn: x (with --order for higher derivatives), x,y (mixed), x,x,y"


def _subcommand(sub, name: str, summary: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=summary, epilog=_EPILOG, allow_abbrev=False)


def build_parser() -> tuple[argparse.ArgumentParser, _OptionKinds]:
    """The argument parser, and the kinds of its options (for the '-value' pre-pass)."""
    kinds = _OptionKinds()
    parser = argparse.ArgumentParser(
        prog="symgrad",
        description="Exact derivatives of a formula: simplified formulas, values, generated code, graph pictures.",
        epilog=_EPILOG,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    every = "the variables, comma-separated: x,y or a (an array) or a[0] (default: every symbol)"

    for name, summary in _DERIVATIVE_COMMANDS.items():
        p = _subcommand(sub, name, summary)
        _common(p, kinds, wrt_help=_DIFF_WRT if name == "diff" else every)
        if name == "diff":
            kinds.add(p, "--order", type=int, default=1, help="times to differentiate by each variable (default 1)")
        kinds.add(
            p,
            "--simplify",
            type=int,
            default=SIMPLIFY_LIMIT,
            metavar="N",
            help=f"simplify printed formulas of up to N nodes with sympy (default {SIMPLIFY_LIMIT}; 0: off)",
        )
        _output_modes(p, kinds)

    p = _subcommand(sub, "check", "check a claimed derivative (exit 1 if wrong or undecided)")
    _common(p, kinds, wrt_help="the variable(s) the claim differentiates by: b, or a,b with one claim each")
    kinds.add(
        p,
        "--claimed",
        required=True,
        metavar="FORMULA",
        help='the claimed derivative, e.g. "-2*b"; "[9*a**2, -2*b]" for --wrt a,b; a number with --at is a value',
    )
    kinds.add(p, "--order", type=int, default=1, help="2 with --wrt a,b: the claim is the Hessian [[..], [..]]")
    _output_modes(p, kinds)

    p = _subcommand(sub, "codegen", "print generated code")
    _common(p, kinds, wrt_help=every, at=False)
    kinds.add(p, "--backend", choices=BACKENDS, default="numpy", help="numpy (default), c or cuda")
    kinds.add(p, "--what", choices=WHAT, default="value", help="what the code computes (default: value)")
    kinds.add(p, "--dtype", choices=("float64", "float32"), default="float64")
    _output_modes(p, kinds, latex=False)

    p = _subcommand(sub, "graph", "draw the computational graph")
    _common(p, kinds, wrt_help=every + "; with --grad", at=False)
    kinds.add(p, "--grad", action="store_true", help="draw the derivatives next to the value")
    kinds.add(
        p,
        "--style",
        choices=("derivative", "autograd"),
        default="derivative",
        help="with --grad: the derivative graph (default) or the backward pass as autograd builds it",
    )
    kinds.add(p, "--format", choices=GRAPH_FORMATS, help="dot (default; needs nothing), svg, png, pdf (need Graphviz)")
    kinds.add(p, "-o", "--output", metavar="FILE", help="write here (required for png and pdf)")
    kinds.add(p, "--max-drawn", type=_positive_int, default=500, metavar="N", help="draw at most N nodes (default 500)")
    return parser, kinds
