"""The package's layering, checked from the source: data flows one way, lower layers never import higher ones.

Layers, lowest first (a module may import its own layer and any lower one):
errors, the IR (and the work budget hooked into it), tracing and the sympy bridge, the formula
parser and differentiation, code generation, backends, the compiled-object
API, graph pictures, the checker, the command line, and the package's
``__init__``.  Imports inside functions count too: a lazy import upward is
still a cycle waiting to happen.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "symgrad"

LAYERS = {
    "errors": 0,
    "_version": 0,
    "limits": 1,  # the work budget: counts the nodes the IR creates (a hook in ir.node.make)
    "ir": 1,
    "tracing": 2,
    "sympy_bridge": 2,
    "formula": 3,
    "diff": 3,
    "codegen": 4,
    "backends": 5,
    "api": 6,
    "graph": 7,
    "checker": 8,
    "cli": 9,
    "__init__": 10,
    "__main__": 10,
}


def _unit(parts: tuple[str, ...]) -> str:
    """The layer unit of a module path inside the package: its sub-package, or its top-level module."""
    return parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """(line, module path inside symgrad) for every import of a symgrad module in ``path``."""
    return _imports_in(path.read_text(), path.relative_to(PACKAGE).parts[:-1])


def _imports_in(source: str, here: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
    """The symgrad imports of ``source``, a module in the sub-package ``here`` (``()`` for the top)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = base + tuple((node.module or "").split(".")) if node.module else base
                names = [target + (a.name,) for a in node.names] if not node.module else [target]
            elif node.module and node.module.split(".")[0] == "symgrad":
                names = [tuple(node.module.split(".")[1:])]
            else:
                continue
            found += [(node.lineno, n) for n in names if n]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, tuple(a.name.split(".")[1:])) for a in node.names if a.name.startswith("symgrad.")]
    return found


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def test_every_module_belongs_to_a_layer():
    units = {_unit(p.relative_to(PACKAGE).parts) for p in _modules()}
    assert units <= set(LAYERS), f"modules with no layer: {sorted(units - set(LAYERS))}"


def test_no_module_imports_a_higher_layer():
    violations = []
    for path in _modules():
        own = LAYERS[_unit(path.relative_to(PACKAGE).parts)]
        for line, target in _imports(path):
            unit = _unit(target)
            if unit in LAYERS and LAYERS[unit] > own:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports symgrad.{'.'.join(target)}")
    assert not violations, "lower layers import higher ones:\n" + "\n".join(violations)


def _violations(source: str, here: tuple[str, ...]) -> list[tuple[str, ...]]:
    own = LAYERS[here[0] if here else "__init__"]
    return [t for _, t in _imports_in(source, here) if LAYERS.get(_unit(t), -1) > own]


def test_the_scan_finds_upward_imports_of_every_spelling():
    """The scan itself works: relative, absolute, lazy and ``from . import`` imports upward are all reported."""
    assert _violations("from ..api.compiled import Compiled\n", ("ir",)) == [("api", "compiled")]
    assert _violations("def f():\n    from symgrad.cli import main\n", ("codegen",)) == [("cli",)]
    assert _violations("import symgrad.checker.check\n", ("tracing",)) == [("checker", "check")]
    assert _violations("from .. import graph\n", ("backends",)) == [("graph",)]
    assert _violations("from ..ir.node import Node\nfrom .schedule import schedule\n", ("codegen",)) == []


@pytest.mark.parametrize("module", ["sympy", "jinja2"])
def test_import_symgrad_does_not_import(module):
    code = f"import sys, symgrad; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"import symgrad imported {module}"


def test_lazy_parts_load_on_first_use():
    code = (
        "import sys, symgrad as sg; x = sg.symbols('x'); "
        "assert sg.latex(x**2) == 'x^{2}'; assert 'sympy' in sys.modules; "
        "assert bool(sg.check(x**2, '2*x', wrt=x)); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"
