"""Compiled objects: symbolic outputs + generated code + the call path.

A :class:`Program` is what every compiled object computes: its arguments
(each a name, a declared shape and the symbols of its elements; pytree
arguments group several) and its symbolic outputs (a node, an array of nodes,
or dicts/tuples/lists of those).  :class:`Compiled` turns a program into code
and calls it, by position or keyword (:mod:`symgrad.api.arguments` binds
keywords and flattens pytrees, only when a call has them):

- plain Python floats for scalar arguments take a straight-line scalar path
  (no numpy, no broadcasting machinery), falling back to numpy where Python's
  math raises (log of a negative, division by zero) so results follow numpy;
- arrays are a batch: ``batch + arg_shape`` per argument, batches broadcasting
  like numpy, results shaped ``batch + out_shape``.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
import warnings

import numpy as np

from .. import backends
from ..codegen.kernel import SlotTable, slot_table
from ..errors import InputError, ShapeError, TraceError, VerificationError
from ..ir.builders import substitute
from ..ir.custom import check_rules, lower
from ..ir.domain import valid_points
from ..ir.evaluate import evaluate
from ..ir.node import Node, free_symbols
from ..limits import gc_paused
from ..tracing.functions import is_symbolic
from ..tracing.program import Arg, Program, as_value
from ..tracing.tracer import enclosing_names
from .arguments import bind_leaves, is_pytree_value, undeclared_pytree
from .options import CompileOptions
from .plan import flat_values, flatten, literal_keys, map_plan, plain_floats, rebuild, results_format

_SCALAR_SLOT_LIMIT = 1024  # beyond this many outputs the scalar path's source costs more than it saves
VERIFY_POINTS = 4


class Compiled:
    """A callable computing a program's outputs with generated code.

    ``.source`` is the generated code, ``.outputs`` the symbolic outputs,
    ``.args`` the (leaf) arguments with their declared shapes, ``.shapes`` each
    argument's shape or pytree of shapes, ``.options`` the
    :class:`~symgrad.api.options.CompileOptions` it was built with.

    Backends: ``"numpy"`` (fused numpy kernel, plus a straight-line fast path for
    plain floats), ``"c"`` (the same kernel as C, compiled with the system
    compiler; ``threads=k`` splits the batch over k threads, ``fast_math=True``
    adds ``-ffast-math``), ``"cuda"`` (one GPU thread per point, through CuPy).
    ``verify=True`` (or ``SYMGRAD_VERIFY=1`` in the environment) checks the
    generated code against the reference interpreter before it is used.
    """

    def __init__(self, program: Program, options: CompileOptions | None = None, fn=None) -> None:
        if options is None:
            options = CompileOptions()
        elif not isinstance(options, CompileOptions):
            raise InputError(f"Compiled takes a CompileOptions, got {type(options).__name__} (use sg.compile(...))")
        self.program = program
        impl = self._start(program, options, fn)
        # the one pass over every slot: the table numbers them by their distinct nodes, and lowering,
        # the kernel, its graph hash and the slot layout all work on those (see SlotTable)
        self._plan, self._exprs, table = flatten(program.outputs)
        # _exprs: as built, custom functions by name: the reference interpreter and composition use these
        self._closure = _closed_over(self._exprs, self._inputs)
        if self._closure:  # values of the traced function around this one: it composes there, no code of its own
            self.kernel, self._table, self._scalar_ok, self._verify = None, table, False, False
            return
        with gc_paused():  # graph walks of 10^6 nodes: see symgrad.limits.gc_paused
            # custom functions inlined, named constants as numbers (no backend knows them): per distinct node
            table = table.replaced(lower(table.nodes, table.order))  # the order is the schedule's too
            self._table = table
            results = self._scalar_results(table)
            self.kernel = impl.generate(self._inputs, table, self.dtype, results)
            table.drop_walks()
        self._load(table)

    def _start(self, binding: Program, options: CompileOptions, fn):
        """The backend (checked now, not at the first call) and the arguments a call binds, by ``binding``'s."""
        impl = options.backend_impl
        impl.check_available()  # no compiler, CuPy or GPU: say so now, not at the first call
        self._binding = binding  # what a call binds its arguments by (a TapedGradient's before its outputs exist)
        self.options = options
        self.backend = options.backend
        self.dtype = options.dtype
        self.fn = fn
        self._backend = impl
        self._inputs = [s for a in binding.args for s in a.symbols]
        self._nargs = -1 if binding.has_trees else len(binding.args)  # -1: every call binds its pytrees
        return impl

    def _scalar_results(self, table: SlotTable) -> str | None:
        """Set whether plain floats take the scalar path; its results expression if they do."""
        self._scalar_ok = (
            self._backend.scalar_path
            and self.dtype == "float64"  # Python's floats compute in float64: float32 rounds every step on numpy
            and all(not a.shape for a in self.args)
            and len(table) <= _SCALAR_SLOT_LIMIT
            and literal_keys(self._plan)
        )
        return results_format(self._plan) if self._scalar_ok else None

    def _load(self, table: SlotTable) -> None:
        """Load the kernel and lay out its slots (``table``: what the kernel writes); verify it if asked to."""
        self._array_fn = self._backend.load(self.kernel, self.options.threads, self.options.fast_math)
        self._scalar_fn = None
        self._np_dtype = np.dtype(self.dtype)
        self._layout = _SlotLayout(table, self.kernel.unique)
        env = os.environ.get("SYMGRAD_VERIFY", "0") or "0"
        verify = self.options.verify
        self._verify = env.strip().lower() not in ("0", "false", "no", "") if verify is None else verify
        if self._verify:
            self.verify()

    # -- introspection ---------------------------------------------------------
    @property
    def args(self) -> tuple[Arg, ...]:
        return self._binding.args

    @property
    def outputs(self):
        """The symbolic outputs this object computes (nodes; print them, convert with sg.to_sympy)."""
        return self.program.outputs

    @property
    def shapes(self) -> dict:
        """Each argument's declared shape, or for a pytree argument its structure of shapes."""
        return {p.name: self._binding.spec(i) for i, p in enumerate(self._binding.params)}

    @property
    def source(self) -> str:
        """The generated code: the C or CUDA kernel, or the fused numpy kernel then the scalar fast path."""
        if self._closure:
            raise self._closure_error("has no code of its own")
        return self.kernel.source

    def source_for(self, backend: str) -> str:
        """The code another backend would run for the same outputs (no compiler, CuPy or GPU needed)."""
        if backend == self.backend:
            return self.source
        kernel = backends.get(backend).generate(self._inputs, self._table, self.dtype, None)
        return kernel.source

    @property
    def _slots(self) -> list[Node]:
        """The output slots as code generation sees them (lowered), in slot order."""
        return self._table.slots

    @property
    def statement_count(self) -> int:
        """Operations the kernel performs per point, one per node (``sg.operation_count`` counts n-ary ops as n-1)."""
        return self.kernel.steps

    def __repr__(self) -> str:
        sig = ", ".join(f"{a.name}{list(a.shape) if a.shape else ''}" for a in self.args)
        return f"<symgrad.Compiled ({sig}) -> {self.outputs!r}, backend={self.backend}, dtype={self.dtype}>"

    # -- calling ------------------------------------------------------------------
    def __call__(self, /, *args, **kwargs):
        if kwargs or len(args) != self._nargs:  # keywords, pytrees, or a wrong count (an InputError)
            args = bind_leaves(self._binding, args, kwargs)
        if self._scalar_ok:
            ints = False
            for a in args:
                if type(a) is not float:
                    if type(a) is not int or not -_FLOAT_MAX <= a <= _FLOAT_MAX:  # huge ints: _as_array says so
                        break
                    ints = True
            else:
                if ints:
                    args = tuple(float(v) for v in args)
                fn = self._scalar_fn or self._load_scalar()
                try:
                    return fn(*args)
                except (ArithmeticError, ValueError):  # numpy's semantics (nan, inf, warnings) instead
                    return plain_floats(self._call_arrays(args))
        if (
            self._closure
        ):  # (never _scalar_ok) the values closed over are symbolic while that trace runs: so is the result
            if not self._closure <= enclosing_names():
                raise self._closure_error("cannot be called after that function has returned")
            return self._substitute(args)
        if any(is_symbolic(a) for a in args):
            return self._substitute(args)
        if self._backend.plain_floats and self.dtype == "float64" and all(type(a) in (float, int) for a in args):
            return plain_floats(self._call_arrays(args))  # floats in, floats out, as on the scalar path
        return self._call_arrays(args)

    def _closure_error(self, what: str) -> TraceError:
        """The error of a use a closure (see :func:`_closed_over`) cannot have: ``what`` it cannot do."""
        names = ", ".join(sorted(self._closure))
        return TraceError(
            f"this function closes over values of the traced function around it (depending on {names}), "
            f"so it {what}; pass those values as arguments to compile it on its own"
        )

    def _load_scalar(self):
        fn = self._backend.load_scalar(self.kernel)
        if self._verify:
            self._verify_scalar(fn)
        self._scalar_fn = fn
        return fn

    # -- self-verification -------------------------------------------------------------
    def verify(self, points: int = VERIFY_POINTS, seed: int = 0) -> None:
        """Run the generated kernel at random points against the reference interpreter; raise if they differ.

        The reference (:func:`symgrad.ir.evaluate.evaluate`) applies the op table's numpy
        implementations node by node, with no code generation, so a printer or
        template bug cannot hide from it.
        """
        self._check_rules()
        values = self._verification_points(points, seed)
        n = len(next(iter(values.values()))) if values else 1
        if not n or not len(self._table):
            return  # no point where the outputs are finite, or no output slot: nothing to compare there
        args = self._stacked(values, n)
        xp = self._backend.array_module()
        with np.errstate(all="ignore"):  # silent when the code is right, whatever the caller's errstate
            block, _ = self._block([xp.asarray(a) for a in args], xp)
            got = (block if xp is np else xp.asnumpy(block)).reshape(len(self._table), -1)
            reference = evaluate(self._exprs, values)
            rounded = None if self.dtype == "float64" else evaluate(self._exprs, values, self._np_dtype)
        expected = np.array([np.broadcast_to(v, (got.shape[1],)) for v in reference]).reshape(got.shape)
        if rounded is not None:  # float32: ill-conditioned outputs differ from float64 by float32's own rounding
            expected32 = np.array([np.broadcast_to(v, (got.shape[1],)) for v in rounded]).reshape(got.shape)
            near32 = self._agreeing(got, expected32.astype(float))
            expected = np.where(near32, got, expected)  # a point agreeing with the float32 reference is right
        self._compare(got, expected, f"the {self.backend} kernel")

    def _check_rules(self) -> None:
        """Custom functions' derivative rules against their bodies: the outputs' and those behind what they derive from."""
        check_rules([*self._exprs, *self.program.source_nodes()])

    def _stacked(self, values: dict, n: int) -> list[np.ndarray]:
        """The arguments holding ``n`` points of per-symbol ``values``, shaped batch + argument shape."""
        return [
            np.stack([values[s] for s in a.symbols], axis=-1).reshape((n,) + a.shape)
            if a.symbols
            else np.zeros((n,) + a.shape)  # an argument with no elements (shape (0,))
            for a in self.args
        ]

    def _verification_points(self, points: int, seed: int) -> dict:
        """Seeded points inside the outputs' real domain, beside their kinks (:mod:`symgrad.ir.domain`).

        Points outside the domain would compare nans (and make numpy warn, or raise
        under ``np.errstate(all="raise")`` or ``python -W error``); the edge search is
        skipped for very large graphs, where it would cost more than the check.
        """
        if not self._inputs:
            return {}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            found = valid_points(
                self._exprs, self._inputs, count=points, seed=seed, max_edges=0 if len(self._exprs) > 2000 else 24
            )
        if not found or not len(next(iter(found.values()))):
            rng = np.random.default_rng(seed)  # an empty domain: values are nan everywhere, compare them anyway
            found = {s: rng.uniform(-2.0, 2.0, points) for s in self._inputs}
        return {s: np.asarray(v, dtype=float).astype(self._np_dtype).astype(float) for s, v in found.items()}

    def _verify_scalar(self, fn) -> None:
        values = {s: float(v[0]) for s, v in self._verification_points(1, 1).items()}
        try:
            with np.errstate(all="ignore"):
                result = fn(*(values[s] for s in self._inputs))
        except (ArithmeticError, ValueError):
            return  # the call path falls back to the numpy kernel here, which verify() covers
        got = np.array(flat_values(result), dtype=float).reshape(-1, 1)
        with np.errstate(all="ignore"):
            expected = np.array([float(v) for v in evaluate(self._exprs, values)]).reshape(-1, 1)
        self._compare(got, expected, "the scalar fast path")

    def _agreeing(self, got: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Where the kernel's values agree with a reference, to the dtype's tolerance (nan agrees with nan)."""
        rtol, atol = (1e-6, 1e-9) if self.dtype == "float64" else (2e-3, 1e-4)
        with np.errstate(all="ignore"):
            scale = atol + rtol * np.maximum(np.abs(expected), 1.0)
            return (np.abs(got - expected) <= scale) | (got == expected) | (np.isnan(got) & np.isnan(expected))

    def _compare(self, got: np.ndarray, expected: np.ndarray, what: str) -> None:
        bad = ~self._agreeing(got, expected)
        if bad.any():
            slot, point = (int(i) for i in np.argwhere(bad)[0])
            raise VerificationError(
                f"{what} computed {got[slot, point]!r} for output #{slot} ({self._slots[slot]}) where the reference "
                f"interpreter gives {expected[slot, point]!r}; this is a symgrad bug, please report it"
            )

    def _substitute(self, args):
        """Called on symbolic values (inside another trace): compose the graphs, once per point of the batch.

        The arguments are shaped as on a numeric call (:meth:`_batch`), so ``g(x)`` of a
        compiled scalar function on a symbolic vector is elementwise, as ``g(np.ones(3))``
        is, and each output leaf comes back as ``batch + out_shape`` in the same structure.
        """
        values = [np.asarray(value, dtype=object) for value in args]
        batch = self._batch([v.shape for v in values], "a symbolic array")
        n = math.prod(batch)
        points = [np.broadcast_to(v, batch + a.shape).reshape(n, len(a.symbols)) for a, v in zip(self.args, values)]
        slots = np.empty((n, len(self._exprs)), dtype=object)
        for k in range(n):
            elements = itertools.chain.from_iterable(p[k] for p in points)
            slots[k] = substitute(self._exprs, dict(zip(self._inputs, elements)))
        return map_plan(
            self._plan,
            lambda shape, start: as_value(slots[:, start : start + math.prod(shape)].reshape(-1), batch + shape),
        )

    def _prepare(self, args, xp=np) -> tuple[list[np.ndarray], tuple[int, ...]]:
        arrays = [_as_array(value, spec.name, self._np_dtype, xp) for spec, value in zip(self.args, args)]
        return arrays, self._batch([arr.shape for arr in arrays], "an array")

    def _batch(self, shapes: list[tuple[int, ...]], what: str) -> tuple[int, ...]:
        """The batch of arguments of these shapes: each ``batch + arg_shape``, the batches broadcasting like numpy.

        The one rule of both call paths, numeric arrays and symbolic ones, so
        composing a compiled function inside a trace takes what calling it takes.
        """
        batches = []
        for spec, shape in zip(self.args, shapes):
            nd = len(spec.shape)
            if len(shape) < nd or shape[len(shape) - nd :] != spec.shape:
                raise ShapeError(
                    f"argument {spec.name!r} must have shape batch + {spec.shape}, got {what} of shape {shape}"
                )
            batches.append(shape[: len(shape) - nd])
        try:
            return np.broadcast_shapes(*batches)
        except ValueError:
            detail = ", ".join(f"{s.name}: {b}" for s, b in zip(self.args, batches))
            raise ShapeError(f"the batch shapes of the arguments do not broadcast ({detail})") from None

    def _columns(self, arrays: list, batch: tuple[int, ...], xp) -> list:
        """One 1-D column (length n, possibly a strided view: no copy) or 0-d scalar per input symbol."""
        columns = []
        for spec, arr in zip(self.args, arrays):
            flat_arr = arr.reshape(arr.shape[: arr.ndim - len(spec.shape)] + (len(spec.symbols),))
            for k in range(len(spec.symbols)):
                col = flat_arr[..., k]
                if col.size == 1 and col.shape != batch:
                    columns.append(col.reshape(()))
                    continue
                if col.shape != batch:
                    col = xp.broadcast_to(col, batch)
                flat = col.reshape(-1)  # a view where the strides allow it (a row of an (n, 3) array), else a copy
                if flat.size > 1 and flat.strides[0] % flat.itemsize:
                    flat = xp.ascontiguousarray(flat)
                columns.append(flat)
        return columns

    def _block(self, args, xp):
        """All output slots as one ``(slots, n)`` block, and the batch shape."""
        arrays, batch = self._prepare(args, xp)
        n = math.prod(batch)
        columns = self._columns(arrays, batch, xp)
        return self._layout.run(self._array_fn, columns, n, self._np_dtype, xp), batch

    def _call_arrays(self, args):
        xp = self._backend.array_module()
        block, batch = self._block(args, xp)
        n = block.shape[1]
        leaves: list[np.ndarray] = []

        def take(shape, start):
            leaves.append(block[start : start + math.prod(shape)].reshape(shape + (n,)))
            return len(leaves) - 1

        index_plan = map_plan(self._plan, take)

        def finish(i):
            buf = leaves[i]
            out_nd = buf.ndim - 1
            res = buf.reshape(buf.shape[:-1] + batch)
            if out_nd and batch:
                res = xp.moveaxis(res, tuple(range(out_nd)), tuple(range(len(batch), len(batch) + out_nd)))
            return res[()] if res.ndim == 0 else res

        return rebuild(index_plan, finish)


def _closed_over(exprs: list, inputs: list[Node]) -> frozenset[str]:
    """The names of the symbols of the traces running around this one that ``exprs`` read (none outside a trace).

    ``sg.grad(lambda t: sin(t)*y)`` inside a traced function, ``y`` a value of
    that trace: the derivative is taken at fixed ``y`` (as ``jax.grad`` of a closure),
    and the result, which depends on ``y``, is that trace's to compile.
    """
    names = enclosing_names()
    if not names:
        return frozenset()
    own = set(inputs)
    nodes = [e for e in exprs if isinstance(e, Node)]
    return frozenset(s.value[0] for s in free_symbols(nodes) if s not in own and s.value[0] in names)


class _SlotLayout:
    """Where each output slot's values come from: the kernel, a constant, or another slot.

    All slots live in one ``(slots, n)`` block: the kernel writes the rows of the
    distinct computed nodes, constants are filled and repeated nodes (the mirrored
    half of a Hessian) copied with one vectorized assignment each.  A constant
    holding most slots (the zeros of a dense Hessian) fills the whole block first,
    at memset speed, and is never listed slot by slot.
    """

    def __init__(self, slots: SlotTable | list[Node], unique: tuple[Node, ...] | None) -> None:
        """``unique``: the kernel's outputs, each distinct node once; None when it writes every slot itself.

        Built from the slot table with numpy over its index array: nothing here
        runs in Python per slot (a dense Hessian of 3,000 variables has 9*10^6).
        """
        table = slot_table(slots)
        inverse, nodes = table.inverse, table.nodes
        is_const = table.is_const
        self.size = len(table)
        self.fill = None  # the value filling the whole block first, or None
        consts = np.flatnonzero(is_const)
        if len(consts):
            fill = _majority_constant(table, consts)
            if fill is not None:
                self.fill = float(table.values[fill])
                is_const = is_const.copy()
                is_const[fill] = False  # the fill writes its slots: they are not listed
                consts = consts[consts != fill]
        if len(consts):
            self.const_idx = np.flatnonzero(is_const[inverse])
            self.const_val = table.values[inverse[self.const_idx]][:, None]
        else:
            self.const_idx = np.zeros(0, dtype=np.intp)
            self.const_val = np.zeros((0, 1))
        computed = table.computed_slots  # slot order
        if unique is None:  # the kernel writes every non-constant slot itself
            self.kernel_rows = computed.tolist()
            self.dup_dst = self.dup_src = np.zeros(0, dtype=np.intp)
        else:  # the kernel writes each distinct node's first slot; the repeats are copied
            owner = inverse[computed]  # the node of each computed slot
            seen, at = np.unique(owner, return_index=True)  # each node's first computed slot
            first = np.full(len(nodes), -1, dtype=np.intp)
            first[seen] = computed[at]
            repeat = np.ones(len(computed), dtype=bool)
            repeat[at] = False
            self.dup_dst = computed[repeat]
            self.dup_src = first[owner[repeat]]
            index = table.index
            rows = first[np.fromiter(map(index.__getitem__, unique), dtype=np.intp, count=len(unique))]
            self.kernel_rows = rows.tolist()
        self._zeros = self.fill == 0.0 and math.copysign(1.0, self.fill) > 0  # +0.0: a fresh block is np.zeros
        self._spares: list[np.ndarray] = []
        self._spare_lock = threading.Lock()

    def run(self, kernel, columns: list, n: int, dtype: np.dtype, xp=np) -> np.ndarray:
        block = self._take_spare(n, dtype) if xp is np else None
        if block is None and self._zeros:
            block = xp.zeros((self.size, n), dtype=dtype)  # fresh zeroed pages: touched only where written or read
        else:
            if block is None:
                block = xp.empty((self.size, n), dtype=dtype)
            if self.fill is not None:
                block.fill(self.fill)  # before the kernel writes its rows
        kernel(columns, [block[i] for i in self.kernel_rows], n)
        if self.const_idx.size:
            block[xp.asarray(self.const_idx)] = xp.asarray(self.const_val, dtype=dtype)
        if self.dup_dst.size:
            block[xp.asarray(self.dup_dst)] = block[xp.asarray(self.dup_src)]
        if xp is np and block.nbytes <= SPARE_BYTES:
            self._keep_spare(block)
        return block

    def _take_spare(self, n: int, dtype: np.dtype) -> np.ndarray | None:
        """A block returned before that nothing outside holds, or a view of, any more.

        A fresh block of a million points is written page by page, and the page
        faults cost about a third of a fast kernel's time; a block the caller has
        dropped is already mapped.  Two are kept, so a loop ``out = f(x)`` (which
        drops the previous result only after the call) reuses the one before it.
        Every returned array is a view whose base is the block, so the block's
        reference count tells whether one is alive: three is the list's, the
        loop name's and getrefcount's argument.
        """
        with self._spare_lock:
            for i in range(len(self._spares)):  # not enumerate: its result tuple would hold a reference
                spare = self._spares[i]
                if spare.shape == (self.size, n) and spare.dtype == dtype and sys.getrefcount(spare) <= 3:
                    del self._spares[i]  # taken: a concurrent call allocates its own
                    return spare
        return None

    def _keep_spare(self, block: np.ndarray) -> None:
        with self._spare_lock:
            self._spares.append(block)
            del self._spares[:-SPARES]


def _majority_constant(table: SlotTable, consts: np.ndarray) -> int | None:
    """The constant node holding more than half the slots, if one does (the zeros of a dense Hessian).

    With one constant node its slots are all the non-computed ones; with several,
    the candidate is the most common among a strided sample of the slots, its
    slots then counted exactly.  (A majority the sample misses costs speed only:
    its slots are listed like any other constant's.)
    """
    size = len(table)
    if len(consts) == 1:
        node, count = int(consts[0]), size - len(table.computed_slots)
    else:
        sample = table.inverse[:: max(1, size >> 16)]
        node = int(consts[np.argmax(np.bincount(sample, minlength=len(table.nodes))[consts])])
        count = int(np.count_nonzero(table.inverse == node))
    return node if 2 * count > size else None


SPARE_BYTES, SPARES = 1 << 28, 2
"""The last two result blocks, each up to this size, are kept for reuse once the caller drops them (see _take_spare)."""

_FLOAT_MAX = int(np.finfo(np.float64).max)


def _as_array(value, name: str, dtype: np.dtype, xp=np) -> np.ndarray:
    """An argument as a real array of the compiled dtype (``xp``: numpy, or cupy on the GPU), or a clear error."""
    if xp is np and backends.array_module_of(value) is not np:
        raise InputError(f"argument {name!r} is a CuPy (GPU) array; this function was compiled for a CPU backend")
    try:
        arr = xp.asarray(value)
    except (ValueError, TypeError) as exc:  # a ragged nested list, or an object numpy cannot read
        raise InputError(f"argument {name!r} is not a numeric array (ragged or unreadable: {exc})") from None
    kind = arr.dtype.kind
    if kind == "O" and xp is np and arr.size and all(type(v) in (int, float) for v in arr.flat):  # ints > int64
        try:
            arr, kind = arr.astype(np.float64), "f"
        except OverflowError:
            raise InputError(f"argument {name!r} holds an integer too large for a float (beyond 1.8e308)") from None
    if kind == "c":
        raise InputError(f"argument {name!r} is complex; symgrad computes with real numbers only")
    if kind not in "biuf":
        if is_pytree_value(value):
            raise undeclared_pytree(name)
        raise InputError(f"argument {name!r} must be numeric, got an array of dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)
