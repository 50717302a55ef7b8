"""Losses over a dataset: compiled functions whose data arguments carry a sample axis, reduced over it.

``sg.compile(loss, shapes=..., data=("x", "y"), reduce="mean")`` traces ``loss``
for one sample; called with ``X`` of shape ``(N, D)`` and ``Y`` of shape
``(N,)`` it returns the mean (or sum) over the N samples of every output.  The
transformations differentiate the per-sample program -- the derivative of a
mean is the mean of the per-sample derivatives -- and keep ``data``/``reduce``,
so ``sg.grad(L)`` computes the gradient of the mean loss in one fused pass,
with no N x #params array of per-sample gradients ever built.

Where the data lives decides how the pass runs: numpy arrays in chunks, each
summed by a fused C reduction (the C backend: the per-sample body with an
accumulator per output, :mod:`symgrad.backends.c_reduce`) or by the per-sample
kernel and numpy's pairwise sum (the numpy backend, and C kernels too long for
one function), the chunk sums combined with compensated sums (:mod:`.reduction`); Dask
arrays chunk by chunk on Dask's scheduler, then a tree reduction
(:mod:`.dask_reduce`); CuPy arrays through one fused CUDA map + block-reduction
kernel (:mod:`symgrad.backends.cuda_reduce`).
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..backends import c_reduce, cuda_reduce, vecmath
from ..codegen.csource import C_PART_STATEMENTS
from ..codegen.reduce_source import ReduceKernel, generate_reduce, generate_reduce_c
from ..errors import InputError, ShapeError
from ..ir.evaluate import evaluate
from ..tracing.functions import is_symbolic
from ..tracing.program import Program
from . import dask_reduce
from .arguments import bind_leaves
from .compiled import VERIFY_POINTS, Compiled, _as_array
from .options import CompileOptions
from .plan import map_plan
from .reduction import Partial, chunk_size, reduce_chunks

REDUCTIONS = ("mean", "sum")
DataArgs = str | int | Sequence[str | int] | None
"""What ``data=`` takes: the names or positions of the arguments that hold one value per sample."""
FUSED_CHUNK = 8192
"""Samples per call of a fused C reduction (inside it, blocks of ``SUM_BLOCK`` samples, their sums compensated)."""


@dataclass(frozen=True)
class DataSpec:
    """Which arguments hold one value per sample (positions of the caller's arguments) and how they are reduced."""

    data: tuple[int, ...]
    reduce: str = "mean"
    chunk: int | None = None  # samples per chunk; None: sized so a chunk's outputs stay in cache


def dataset_spec(fn, program: Program, data: DataArgs, reduce: str | None, what: str) -> DataSpec | None:
    """The dataset of a transformation: ``data=``/``reduce=`` as given, else those of ``fn`` if it has them."""
    inherited = fn.spec if isinstance(fn, DatasetCompiled) else None
    if reduce is not None and (not isinstance(reduce, str) or reduce not in REDUCTIONS):
        raise InputError(f"{what}: reduce must be 'mean' or 'sum', got {reduce!r}")
    if data is None:
        if reduce is None or inherited is not None:
            return inherited if reduce is None else replace(inherited, reduce=reduce)
        raise InputError(
            f"{what}: reduce={reduce!r} needs data=, the arguments that hold one value per sample "
            f"(e.g. data=('x', 'y')); the arguments are {', '.join(p.name for p in program.params)}"
        )
    chosen = reduce or (inherited.reduce if inherited else "mean")
    return DataSpec(_data_indices(program, data, what), chosen, inherited.chunk if inherited else None)


def _data_indices(program: Program, data: DataArgs, what: str) -> tuple[int, ...]:
    names = [p.name for p in program.params]
    listed = ", ".join(names)
    items = (data,) if isinstance(data, (str, int, np.integer)) else data
    if not isinstance(items, (tuple, list)) or not items:
        raise InputError(f"{what}: data= names the per-sample arguments, e.g. data=('x', 'y'); got {data!r}")
    found: list[int] = []
    for item in items:
        if isinstance(item, str):
            if item not in names:
                close = difflib.get_close_matches(item, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InputError(f"{what}: data= names {item!r}, which is not an argument ({listed}){hint}")
            index = names.index(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            if not -len(names) <= item < len(names):
                raise InputError(f"{what}: data= position {item} is out of range for the arguments ({listed})")
            index = int(item) % len(names)
        else:
            raise InputError(f"{what}: data= holds argument names or positions, got {item!r}")
        if index not in found:
            found.append(index)
    return tuple(sorted(found))


def compiled_for(
    program: Program, options: CompileOptions, spec: DataSpec | None, fn=None, wrt: Sequence[int] = (), what=""
) -> Compiled:
    """A :class:`Compiled` for ``program``, reducing over the samples when ``spec`` names data arguments.

    ``wrt``: the arguments a derivative was taken with respect to; none may be a data argument.
    """
    if spec is None:
        return Compiled(program, options, fn=fn)
    clash = [program.params[i].name for i in wrt if i in spec.data]
    if clash:
        params = ", ".join(p.name for i, p in enumerate(program.params) if i not in spec.data) or "none"
        raise InputError(
            f"{what}: argnums includes {', '.join(map(repr, clash))}, a data argument (one value per sample); "
            f"a loss over a dataset is differentiated with respect to its parameters ({params})"
        )
    return DatasetCompiled(program, options, spec, fn=fn)


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class DatasetCompiled(Compiled):
    """A compiled function over a dataset: its outputs reduced (mean or sum) over the samples of the data arguments.

    ``.outputs`` are the per-sample outputs (nodes over one sample's symbols);
    ``.formula`` (and ``str()``) shows them as the reduction, ``mean(...)``.
    Data arguments are passed with a leading sample axis (``(N,) + shape``),
    every other argument with exactly its declared shape.  Called on symbolic
    values inside another trace it gives the per-sample value, so a traced
    function may call it and be compiled over the same data.
    """

    def __init__(self, program: Program, options: CompileOptions, spec: DataSpec, fn=None) -> None:
        self._setting_up = True  # Compiled.__init__ verifies: wait until the kernel this object runs is known
        super().__init__(program, options, fn)
        self.spec = spec
        leaves = {j for i in spec.data for j in range(program.params[i].start, program.params[i].stop)}
        self._is_data = tuple(j in leaves for j in range(len(program.args)))
        if not leaves:
            raise InputError(f"data= names {self.data}, which hold no values (empty pytrees)")
        # the C backend sums in the kernel itself, unless the kernel is long enough to be cut into parts
        self._fused = self.backend == "c" and self.kernel.steps <= C_PART_STATEMENTS
        self._fused_kernel = None
        self.chunk = spec.chunk or (FUSED_CHUNK if self._fused else chunk_size(len(self._slots)))
        # one chunk per call of the kernel: threads split the chunks, not the points of one chunk
        single = options.threads == 1
        self._chunk_kernel = self._array_fn if single else self._backend.load(self.kernel, 1, options.fast_math)
        self._reducer = None  # the fused CUDA kernel, generated on the first call
        self._setting_up = False
        if self._verify:
            self.verify()

    # -- introspection --------------------------------------------------------------
    @property
    def data(self) -> tuple[str, ...]:
        """The names of the arguments that carry a sample axis."""
        return tuple(self.program.params[i].name for i in self.spec.data)

    @property
    def reduce(self) -> str:
        """``"mean"`` or ``"sum"``: how each output is reduced over the samples."""
        return self.spec.reduce

    @property
    def formula(self) -> str:
        """The outputs as reductions over the samples, e.g. ``mean(x[0]*(2*b + 2*w[0]*x[0] - 2*y))``."""
        return _plan_text(self._plan, self._exprs, self.spec.reduce)  # as built: custom functions by name

    def __str__(self) -> str:
        return self.formula

    def __repr__(self) -> str:
        params = [a for a, d in zip(self.args, self._is_data) if not d]
        data = [a for a, d in zip(self.args, self._is_data) if d]
        sig = "; ".join(
            ", ".join(f"{a.name}{list(a.shape) if a.shape else ''}" for a in group) for group in (params, data)
        )
        return (
            f"<symgrad.Compiled ({sig}) -> {self.formula}, {self.spec.reduce} over the samples of "
            f"{', '.join(self.data)}, backend={self.backend}, dtype={self.dtype}>"
        )

    @property
    def source(self) -> str:
        """The generated code: the fused map-reduce kernel (C, CUDA), or the per-sample kernel the chunks run."""
        return self.source_for(self.backend)

    def source_for(self, backend: str) -> str:
        """The code another backend would run: for ``"c"`` and ``"cuda"`` the fused map + reduction kernel."""
        if backend == "cuda":
            return self._cuda_kernel().source
        if backend == "c" and (self._fused or self.backend != "c"):
            return self._c_kernel().source
        return self.kernel.source if backend == self.backend else super().source_for(backend)

    def chunked(self, chunk: int) -> DatasetCompiled:
        """The same function run over chunks of ``chunk`` samples (the default keeps a chunk's outputs in cache)."""
        if not isinstance(chunk, (int, np.integer)) or isinstance(chunk, bool) or chunk < 1:
            raise InputError(f"chunk must be a positive int, got {chunk!r}")
        other = copy.copy(self)
        other.spec = replace(self.spec, chunk=int(chunk))
        other.chunk = int(chunk)
        return other

    def __reduce__(self):
        """Pickled as its program and options (what a Dask worker rebuilds it from), not its loaded code."""
        return (_rebuild, (self.program, self.options, self.spec))

    def __dask_tokenize__(self):
        return ("symgrad.DatasetCompiled", self.kernel.graph_hash, repr(self.options), self.spec, self._is_data)

    def verify(self, points: int = VERIFY_POINTS, seed: int = 0) -> None:
        """Check the kernel this object runs against the reference interpreter: the fused C reduction's sums, or
        the per-sample kernel (``Compiled.verify``)."""
        if self._setting_up:
            return
        if not self._fused:
            return super().verify(points, seed)
        self._check_rules()  # as Compiled.verify
        # points inside the outputs' domain, as Compiled.verify's: one nan sample would make every sum nan,
        # and nan agrees with nan, so uniform points checked nothing of a loss with a log or an arcsin
        values = self._verification_points(points, seed)
        points = len(next(iter(values.values()))) if values else 1
        arrays, batch = self._prepare(self._stacked(values, points), np)
        got = self._c_reducer().bind(self._columns(arrays, batch, np))(0, points)[:, None]
        with np.errstate(all="ignore"):
            expected = np.array([np.broadcast_to(v, (points,)).sum() for v in evaluate(self._slots, values)])[:, None]
            if self.dtype != "float64":  # float32: a sum agreeing with the float32 reference's is right (as verify())
                rounded = evaluate(self._slots, values, self._np_dtype)
                rounded = np.array([np.broadcast_to(v, (points,)).astype(float).sum() for v in rounded])[:, None]
                expected = np.where(self._agreeing(got, rounded), got, expected)
        self._compare(got, expected, "the fused C reduction")

    # -- calling ------------------------------------------------------------------------
    def __call__(self, /, *args, **kwargs):
        leaves = list(bind_leaves(self.program, args, kwargs))
        if any(is_symbolic(v) for v in leaves):
            return self._substitute(leaves)  # inside another trace: one sample's value
        n = self._check(leaves)
        if any(dask_reduce.is_dask_array(v) for v in leaves):
            totals = dask_reduce.reduce_over_chunks(self, leaves).total()
        elif self.backend == "cuda":
            totals = self._cuda_totals(leaves, n)
        else:
            totals = self.partial(leaves, n).total()
        return self._finish(totals, n)

    def _substitute(self, args):
        """One sample's value: inside another trace every argument takes its declared shape exactly.

        A batch there would be ambiguous (samples to reduce, or points to map), and
        the numeric call broadcasts neither, so it is refused rather than guessed.
        """
        for arg, value in zip(self.program.args, args):
            shape = np.asarray(value, dtype=object).shape
            if shape != arg.shape:
                raise ShapeError(
                    f"argument {arg.name!r} of a function over a dataset called inside another trace takes one "
                    f"sample, its declared shape {arg.shape}, got a symbolic array of shape {shape}"
                )
        return super()._substitute(args)

    def partial(self, leaves: list, n: int, threads: int | None = None) -> Partial:
        """The compensated sums of every output slot over ``n`` samples of ``leaves`` (checked leaf values)."""
        chunk_sums = self._fused_sums(leaves) if self._fused else self._block_sums(leaves)
        threads = self.options.threads if threads is None else threads
        return reduce_chunks(chunk_sums, n, self.chunk, len(self._slots), threads)

    def _slices(self, leaves: list, lo: int, hi: int) -> tuple[list, tuple[int, ...]]:
        """The input columns of samples ``[lo, hi)`` (views; a chunk of data converted when its dtype differs)."""
        arrays, batch = self._prepare([v[lo:hi] if d else v for v, d in zip(leaves, self._is_data)], np)
        return self._columns(arrays, batch, np), batch

    def _block_sums(self, leaves: list):
        """Per chunk: the per-sample kernel into a ``(slots, chunk)`` block, each row summed pairwise by numpy."""

        def chunk_sums(lo: int, hi: int) -> np.ndarray:
            columns, _ = self._slices(leaves, lo, hi)
            block = self._layout.run(self._chunk_kernel, columns, hi - lo, self._np_dtype, np)
            return block.sum(axis=1, dtype=np.float64)

        return chunk_sums

    def _fused_sums(self, leaves: list):
        """Per chunk: one call of the fused C reduction (over views of the whole data when no conversion is needed)."""
        fused = self._c_reducer()
        same = all(
            not d or (type(v) is np.ndarray and v.dtype == self._np_dtype) for v, d in zip(leaves, self._is_data)
        )
        if same:
            return fused.bind(self._slices(leaves, 0, None)[0])  # pointers and strides made once

        def chunk_sums(lo: int, hi: int) -> np.ndarray:
            return fused.bind(self._slices(leaves, lo, hi)[0])(0, hi - lo)

        return chunk_sums

    def _check(self, leaves: list) -> int:
        """Shapes checked, parameters converted, before anything runs; the number of samples."""
        sizes = []
        for j, (arg, value, is_data) in enumerate(zip(self.program.args, leaves, self._is_data)):
            if not is_data:
                value = leaves[j] = _as_array(value, arg.name, self._np_dtype, self._xp())
            elif not hasattr(value, "shape") or not hasattr(value, "dtype"):
                value = leaves[j] = _as_array(value, arg.name, self._np_dtype)  # a list of samples
            elif value.dtype.kind not in "biuf":
                _as_array(value[:1], arg.name, self._np_dtype)  # the clear error for that dtype
            shape = tuple(value.shape)
            if not is_data:
                if shape != arg.shape:
                    raise ShapeError(
                        f"argument {arg.name!r} is not a data argument, so it takes its declared shape "
                        f"{arg.shape}, got shape {shape} (only {', '.join(self.data)} carry a sample axis)"
                    )
            elif len(shape) != len(arg.shape) + 1 or shape[1:] != arg.shape:
                raise ShapeError(
                    f"data argument {arg.name!r} needs a leading sample axis: shape (N,) + {arg.shape} = "
                    f"{_shape_text(('N', *arg.shape))}, got shape {shape}"
                )
            else:
                sizes.append((arg.name, shape))
        detail = ", ".join(f"{name} {_shape_text(shape)}" for name, shape in sizes)
        # a Dask array of unknown length (nan, never equal to another nan) is not a different number of samples
        if any(shape[0] is None or (isinstance(shape[0], float) and math.isnan(shape[0])) for _, shape in sizes):
            raise InputError(f"the data arguments have an unknown number of samples ({detail}); compute chunk sizes")
        counts = {shape[0] for _, shape in sizes}
        if len(counts) > 1:
            raise ShapeError(f"the data arguments have different numbers of samples: {detail}")
        n = counts.pop()
        if n == 0:
            raise InputError(f"the data arguments hold no samples ({detail}): a {self.spec.reduce} over 0 samples")
        return int(n)

    def _xp(self):
        return self._backend.array_module()

    def _finish(self, totals: np.ndarray, n: int):
        values = (totals / n if self.spec.reduce == "mean" else totals).astype(self._np_dtype)
        plain = self.dtype == "float64"

        def leaf(shape: tuple[int, ...], start: int):
            v = values[start : start + math.prod(shape)].reshape(shape)
            return v if shape else (float(v[()]) if plain else v[()])

        return map_plan(self._plan, leaf)

    # -- the fused kernels ---------------------------------------------------------------
    def _c_reducer(self) -> c_reduce.CReduceKernel:
        if self._fused_kernel is None:
            self._fused_kernel = c_reduce.CReduceKernel(self._c_kernel(), self.options.fast_math)
        return self._fused_kernel

    def _c_kernel(self) -> ReduceKernel:
        return generate_reduce_c(self._inputs, self._slots, self.dtype, vecmath.functions(self.dtype))

    def _cuda_kernel(self) -> ReduceKernel:
        return generate_reduce(self._inputs, self._slots, self.dtype)

    def _cuda_totals(self, leaves: list, n: int) -> np.ndarray:
        if self._reducer is None:
            self._reducer = cuda_reduce.CudaReduceKernel(self._cuda_kernel())
        xp = self._xp()
        arrays, batch = self._prepare(leaves, xp)
        return self._reducer.totals(self._columns(arrays, batch, xp), n)


def _rebuild(program: Program, options: CompileOptions, spec: DataSpec) -> DatasetCompiled:
    return DatasetCompiled(program, options, spec)


def _nested(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    step = len(items) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nested(items[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])) + "]"


def _plan_text(plan, slots: list, op: str) -> str:
    """The output structure as text, each scalar output written ``op(expression)``."""
    if plan[0] == "leaf":
        _, shape, start = plan
        return _nested([f"{op}({slots[start + k]})" for k in range(math.prod(shape))], shape)
    if plan[0] is type(None):  # a None output has no slots and is given back as None (plan.flatten)
        return "None"
    parts = [_plan_text(p, slots, op) for p in plan[2]]
    if plan[0] is dict:
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(plan[1], parts)) + "}"
    if plan[0] is list:
        return "[" + ", ".join(parts) + "]"
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
