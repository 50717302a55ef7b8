"""The gradient of a huge graph, computed by reverse mode on its tape; the symbolic gradient built on demand.

``sg.grad`` of a function whose graph has more than
:data:`symgrad.codegen.adjoint.ADJOINT_STEPS` steps gets a
:class:`TapedGradient`: its kernel is :func:`symgrad.codegen.adjoint.gradient_tape`
(the forward tape and its adjoint instructions, ~15x cheaper to build than the
symbolic sweep, scheduling and lowering of the gradient), run by the backend's
tape runner.  It is a :class:`~symgrad.api.compiled.Compiled` in every other
respect: the symbolic gradient is built the first time something needs it
(``.outputs``, ``.program``, ``verify``, a call on symbolic values, composing
with another transformation), exactly as ``sg.grad`` builds it below the
threshold, and the kernel does not change then.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from ..codegen import adjoint
from ..codegen.kernel import graph_hash
from ..diff.reverse import gradient_nodes
from ..ir.node import Node, symbol, toposort
from ..limits import gc_paused
from ..tracing.program import Program
from ..tracing.tracer import enclosing_names
from .compiled import Compiled
from .options import CompileOptions
from .plan import flatten

_OUTPUT = "\x00gradient"  # the kernel's output slots before the symbolic gradient exists: one symbol per entry


def taped_gradient(
    program: Program,
    root: Node,
    wrt: list[Node],
    arrange: Callable[[Node, list], object],
    options: CompileOptions,
    with_value: bool = False,
) -> Compiled | None:
    """``sg.grad``'s (``sg.value_and_grad``'s) compiled object past the threshold when the sweep takes the graph,
    else None.

    ``arrange(value, entries)``: the outputs as the transformation returns them,
    from the value and the flat gradient entries (one per ``wrt``).
    """
    impl = options.backend_impl
    if not hasattr(impl, "from_tape") or enclosing_names() or not isinstance(root, Node):
        return None  # CUDA has no tape runner; inside a trace the result composes there, symbolically
    with gc_paused():
        order = toposort([root])
        if adjoint.forward_steps(order) <= adjoint.ADJOINT_STEPS:
            return None
        value = symbol(_OUTPUT, (-1,))
        binding = program.with_outputs(arrange(value, [symbol(_OUTPUT, (k,)) for k in range(len(wrt))]))
        plan, _, table = flatten(binding.outputs)
        # the tape writes the table's distinct entries in its order (the value first): placeholders for wrt's
        entries = [node for node in table.computed if node is not value]
        wanted = [wrt[node.value[1][0]] for node in entries]
        if with_value and table.computed[0] is not value:
            return None
        tape = adjoint.gradient_tape(root, wanted, [s for a in program.args for s in a.symbols], with_value, order)
    if tape is None:
        return None
    return TapedGradient(binding, plan, table, tape, (program, root, list(wrt), arrange), options)


class TapedGradient(Compiled):
    """A gradient whose kernel is reverse mode on the tape (see the module doc); the formulas come on demand."""

    def __init__(self, binding: Program, plan, table, tape, gradient: tuple, options: CompileOptions) -> None:
        """``binding``: the program with placeholder outputs (one symbol per entry, in ``table``); ``gradient``:
        ``(program, root, wrt, arrange)``, what builds the symbolic gradient (see :func:`taped_gradient`)."""
        impl = self._start(binding, options, None)  # no .fn, as sg.grad's symbolic objects: .fn is compile's
        self._forward, self._root, self._wrt, self._arrange = gradient
        self._built: Program | None = None
        self._build_lock = threading.Lock()
        self._plan = plan
        self._closure = frozenset()
        results = self._scalar_results(table)
        gh = "a" + graph_hash(self._inputs, [self._root, *self._wrt])[1:]  # never a symbolic kernel's name
        self.kernel = impl.from_tape(tape, table, self.dtype, results, gh)
        self._load(table)

    @property
    def program(self) -> Program:
        """The gradient as ``sg.grad`` builds it symbolically: built on first use, once."""
        if self._built is None:
            with self._build_lock:
                if self._built is None:
                    self._built = self._forward.with_outputs(
                        self._arrange(self._root, gradient_nodes(self._root, self._wrt))
                    )
        return self._built

    @property
    def _exprs(self) -> list:
        return self._symbolic[1]

    @property
    def _table(self):
        return self._symbolic[2]

    @functools.cached_property
    def _symbolic(self) -> tuple:
        """The symbolic gradient's plan, slot nodes and table (what the base class reads as _exprs and _table)."""
        return flatten(self.program.outputs)

    def __repr__(self) -> str:
        sig = ", ".join(f"{a.name}{list(a.shape) if a.shape else ''}" for a in self.args)
        steps = adjoint.forward_steps(toposort([self._root]))  # not the outputs: printing them would build them
        return (
            f"<symgrad.Compiled ({sig}) -> gradient of a {steps}-step graph by reverse mode on its tape, "
            f"backend={self.backend}, dtype={self.dtype}>"
        )
