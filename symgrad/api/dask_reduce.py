"""Dask arrays as data: every chunk of samples through the local kernel, the partial sums combined in a tree.

When a data argument of a :class:`~symgrad.api.dataset.DatasetCompiled` is a
``dask.array`` chunked along the sample axis, each chunk becomes one task that
runs the compiled object's own chunked pass (numpy or C) and returns its
compensated partial sums and sample count; the partials are merged by a fixed
tree of tasks (``SPLIT_EVERY`` at a time, in chunk order), so the result is the
same on the threaded scheduler, on a ``dask.distributed`` cluster, and from run
to run.  The compiled object travels to workers as its program and options
(``DatasetCompiled.__reduce__``) and is rebuilt there.  Dask is imported here
only when a Dask array is passed: ``import symgrad`` never imports it.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackendError
from .reduction import Partial

SPLIT_EVERY = 8
"""Partials merged per task of the tree reduction."""


def is_dask_array(value) -> bool:
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return type(value).__module__.partition(".")[0] == "dask" and hasattr(value, "chunks") and hasattr(value, "blocks")


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - a dask array was passed, so dask is there
        raise BackendError("Dask arrays as data need dask: pip install 'symgrad[dask]'") from None
    return dask, da


def reduce_over_chunks(compiled, leaves: list) -> Partial:
    """The sums of every output slot over the samples of ``leaves`` (checked), one task per chunk, then a tree.

    Every data leaf is cut like the first Dask one along the sample axis (numpy
    data is wrapped, other Dask data rechunked), whole along its other axes.
    """
    dask, da = _dask()
    is_data = compiled._is_data
    first = next(v for v, d in zip(leaves, is_data) if d and is_dask_array(v))
    cuts = first.chunks[0]
    blocks = []
    for v, d in zip(leaves, is_data):
        if d:
            arr = v if is_dask_array(v) else da.from_array(np.asarray(v), chunks=(cuts, *np.shape(v)[1:]))
            arr = arr.rechunk({0: cuts, **{axis: -1 for axis in range(1, arr.ndim)}})
            blocks.append(arr.to_delayed().reshape(-1))
    params = tuple(v for v, d in zip(leaves, is_data) if not d)
    kernel = dask.delayed(compiled, pure=True, traverse=False)
    parts = [
        dask.delayed(_chunk_partial, pure=True)(kernel, params, is_data, *(b[k] for b in blocks))
        for k in range(len(cuts))
    ]
    while len(parts) > 1:
        parts = [
            dask.delayed(_merge, pure=True)(*parts[i : i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)
        ]
    (result,) = dask.compute(parts[0])
    return result


def _chunk_partial(compiled, params: tuple, is_data: tuple[bool, ...], *data) -> Partial:
    """One chunk's partial sums (a task: runs on a worker)."""
    p, d = iter(params), iter(data)
    leaves = [next(d) if flag else next(p) for flag in is_data]
    n = len(data[0])
    return compiled.partial(leaves, n, threads=1)


def _merge(*parts: Partial) -> Partial:
    """Partials added in their order (a task of the tree reduction)."""
    acc = Partial(parts[0].hi.size, parts[0].hi.copy(), parts[0].lo.copy(), parts[0].count)
    for p in parts[1:]:
        acc.merge(p)
    return acc
