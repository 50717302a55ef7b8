"""Values on the command line: infinite claims in ``check``.

Run in-process through :func:`symgrad.cli.main.main`; expectations are plain arithmetic (d/dx x**2 = 2x).
"""

from __future__ import annotations

import pytest

import symgrad as sg
from symgrad.cli import main as cli


@pytest.mark.parametrize("claimed", ["inf", "-inf", "[2, inf]"])
def test_an_infinite_claimed_value_is_wrong(claimed, capsys):
    """|2 - inf| <= rtol*max(2, inf) held, so a claim of inf for d/dx x**2 = 2 at x = 1 was judged right."""
    wrt = "x,y" if claimed.startswith("[") else "x"
    assert cli.main(["check", "x**2 + y", "--wrt", wrt, "--claimed", claimed, "--at", "x=1", "y=0"]) == 1
    out = capsys.readouterr().out
    assert "WRONG" in out and "oo" not in out  # no sympy infinity as a "constant factor"
    x = sg.symbols("x")
    assert not sg.check(x**2, claimed.replace("[2, ", "").rstrip("]"), wrt=x, at={x: 1.0})
