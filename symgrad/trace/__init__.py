"""The tracing layer: the math users write, numpy's protocols on symbols, and tracing functions into programs.

The package is also callable, as numpy's ``trace``: ``sg.trace(A)`` is
:func:`symgrad.trace.linalg.trace` (the name is both the layer's and numpy's).
"""

import sys
import types

from . import numpy_protocol

numpy_protocol.install()


class _CallablePackage(types.ModuleType):
    """This package, whose call is numpy's ``trace`` (so ``sg.trace`` needs no second object shadowing it)."""

    def __call__(self, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        """The sum along a diagonal (numpy's ``trace``): see :func:`symgrad.trace.linalg.trace`."""
        from .linalg import trace

        return trace(a, offset, axis1, axis2, dtype, out)


sys.modules[__name__].__class__ = _CallablePackage
