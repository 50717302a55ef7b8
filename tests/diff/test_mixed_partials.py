"""Mixed partials in any order of the variables: one node, so the same value bit for bit, and sympy's value.

diff(e, x, y, z) differentiated in the order given: each order built another formula, and
their values differed in the last bits (d^4/dx^2 dy dz of exp(x*y)*sin(z + x) at one point:
-4.983489572324482, -4.983489572324481, -4.98348957232448), where sympy sorts the variables.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp

import symgrad as sg

x, y, z = sg.symbols("x y z")
SX, SY, SZ = sp.symbols("x y z", real=True)
TO_SYMPY = {x: SX, y: SY, z: SZ}
E = sg.exp(x * y) * sg.sin(z + x) + sg.log(1 + x**2 + y**2) * z**3
SE = sp.exp(SX * SY) * sp.sin(SZ + SX) + sp.log(1 + SX**2 + SY**2) * SZ**3
POINTS = [(0.7, 1.3, 0.4), (1.2, 0.5, 2.0), (0.3, -0.8, -1.1)]


@pytest.mark.parametrize("spec", [(x, y), (x, y, z), (x, x, y, z), (x, y, y, z, z), (x, x, x, y, z, y)])
def test_every_order_of_the_variables_is_one_partial(spec):
    orders = sorted(set(itertools.permutations(spec)), key=str)
    first = sg.diff(E, *orders[0])
    f = sg.lambdify([x, y, z], first)
    want = sp.lambdify([SX, SY, SZ], sp.diff(SE, *[TO_SYMPY[v] for v in spec]))
    for order in orders:
        got = sg.lambdify([x, y, z], sg.diff(E, *order))
        assert [float(got(*p)) for p in POINTS] == [float(f(*p)) for p in POINTS], order
    for p in POINTS:
        assert float(f(*p)) == pytest.approx(float(want(*p)), rel=1e-12)
    assert all(sg.diff(E, *order) is first for order in orders)
