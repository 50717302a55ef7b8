"""Options are one typed object built at the API boundary: every misuse is a symgrad error naming the option."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.api.options import CompileOptions


def f2(x, y):
    return x * y + sg.sin(x)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: sg.grad(f2, thread=2),
            r"unknown option 'thread' \(did you mean 'threads'\?\).*backend, dtype, threads",
        ),
        (lambda: sg.hessian(f2, backnd="c"), r"unknown option 'backnd' \(did you mean 'backend'\?\)"),
        (lambda: sg.compile(f2, fast=True), r"unknown option 'fast'"),
        (lambda: sg.grad(f2, argnums=1.5), "argnums must be an int or a non-empty tuple of ints"),
        (lambda: sg.grad(f2, argnums=None), "argnums must be"),
        (lambda: sg.grad(f2, argnums=True), "argnums must be"),
        (lambda: sg.grad(f2, argnums=()), "argnums must be"),
        (lambda: sg.grad(f2, argnums=2), "out of range for a function of 2"),
        (lambda: sg.grad(f2, dtype=["x"]), "dtype must be 'float64' or 'float32'"),
        (lambda: sg.grad(f2, dtype="float16"), "dtype must be"),
        (lambda: sg.grad(f2, threads=0), "threads must be a positive int"),
        (lambda: sg.grad(f2, threads=True), "threads must be a positive int"),
        (lambda: sg.grad(f2, fast_math="yes"), "fast_math must be True or False"),
        (lambda: sg.grad(f2, verify=1), "verify must be True, False or None"),
        (lambda: sg.grad(f2, shapes=5), "shapes must be a dict .* or a list of shapes"),
        (lambda: sg.grad(f2, shapes=[(3,)] * 3), "shapes gives 3 shapes for a function of 2"),
        (lambda: sg.grad(f2, shapes={"z": (3,)}), "shapes names 'z', which is not an argument"),
        (lambda: sg.grad(lambda x: x.sum(), shapes={"x": (1,) * 40}), "40 dimensions"),
        (lambda: sg.grad(lambda x: x.sum(), shapes={"x": 10**12}), "elements"),
        (lambda: sg.grad(lambda x: x.sum(), shapes={"x": (-1,)}), "negative"),
        (lambda: sg.grad(lambda x, *, y: x * y), "keyword-only parameter.*y"),
    ],
)
def test_misused_options_are_symgrad_errors_naming_the_option(call, match):
    with pytest.raises(sg.SymgradError, match=match):
        call()


def test_an_unknown_backend_lists_the_known_ones():
    with pytest.raises(sg.BackendError, match="'fortran'.*'numpy', 'c', 'cuda'"):
        sg.grad(f2, backend="fortran")


def test_options_are_checked_before_anything_is_traced():
    traced = []

    def f(x):
        traced.append(x)
        return x**2

    with pytest.raises(sg.InputError):
        sg.grad(f, threads=-1)
    assert traced == []


def test_options_are_frozen_normalised_and_kept_by_the_compiled_object():
    opts = CompileOptions.build("grad", dtype="single", threads=np.int64(2))
    assert opts.dtype == "float32" and opts.threads == 2 and type(opts.threads) is int
    with pytest.raises(AttributeError):
        opts.threads = 3  # type: ignore[misc]
    g = sg.grad(f2, dtype="double")
    assert g.options == CompileOptions(dtype="float64") and g.dtype == "float64"
    assert sg.grad(g, dtype="float32").options == CompileOptions(dtype="float32")


def test_keyword_only_parameters_with_defaults_keep_their_defaults():
    assert sg.grad(lambda x, *, k=3.0: k * x**2)(2.0) == 12.0


def test_argnums_may_repeat_as_in_jax():
    assert sg.grad(lambda x, y: x * y * x, argnums=(0, 0, 1))(2.0, 3.0) == (12.0, 12.0, 4.0)
