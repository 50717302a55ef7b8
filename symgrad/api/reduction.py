"""Summing a kernel's outputs over the samples of a dataset: chunks, compensated partial sums, threads.

A loss over N samples is evaluated in chunks of at most ``chunk`` samples, so
the temporaries (one ``(slots, chunk)`` block per thread, at most 16 MiB) never depend on N.
Each chunk's outputs are summed with numpy's pairwise summation, and the chunk
sums are combined in chunk order into running Neumaier-compensated sums, so
the float64 result agrees with ``math.fsum`` of the per-sample values to a few
ulps of the sum of their magnitudes, whatever N is.  The chunk boundaries
depend only on N and ``chunk``, and the partial sums are combined in chunk
order whichever thread computed them, so ``threads=k`` gives bit-identical
results for every k and every scheduling.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ..backends.once import thread_pool

MAX_CHUNK = 16384
"""Samples per chunk at most: the kernel's own passes (8192 points) run at full length."""
BLOCK_ELEMENTS = 1 << 21
"""A chunk's block of outputs holds at most about this many values (16 MiB in float64): the per-sample numpy
kernel costs a few microseconds of Python per statement and pass, so long chunks pay off (a 484-statement
kernel with 210 outputs: 3x faster at 8192 samples per chunk than at 1024), and the block stays bounded."""


def chunk_size(slots: int) -> int:
    """Samples per chunk for a kernel with ``slots`` outputs: a power of two, 256 to MAX_CHUNK."""
    chunk = MAX_CHUNK
    while chunk > 256 and chunk * max(slots, 1) > BLOCK_ELEMENTS:
        chunk //= 2
    return chunk


class Partial:
    """Compensated running sums of each output slot (``hi + lo``), and how many samples went in.

    Neumaier's variant of Kahan summation: ``lo`` collects the rounding error
    of every addition into ``hi``, so combining thousands of chunk sums loses
    nothing measurable.  Partials merge (for a tree reduction) the same way.
    """

    __slots__ = ("count", "hi", "lo")

    def __init__(self, size: int, hi: np.ndarray | None = None, lo: np.ndarray | None = None, count: int = 0) -> None:
        self.hi = np.zeros(size) if hi is None else hi
        self.lo = np.zeros(size) if lo is None else lo
        self.count = count

    def add(self, values: np.ndarray, count: int) -> None:
        """Add one chunk's sums (float64, one per slot).

        Where the running sum is not finite (an inf or nan sample, or an overflow) the
        compensation is meaningless (``inf - inf``): ``total`` gives the sum itself there.
        """
        total = self.hi + values
        big = np.abs(self.hi) >= np.abs(values)
        with np.errstate(invalid="ignore"):
            self.lo += np.where(big, (self.hi - total) + values, (values - total) + self.hi)
        self.hi = total
        self.count += count

    def merge(self, other: Partial) -> Partial:
        """This partial with ``other``'s sums and count added (in place; returns self)."""
        self.add(other.hi, other.count)
        self.lo += other.lo
        return self

    def total(self) -> np.ndarray:
        """The compensated sums; inf or nan where the plain sum is (as numpy's and math.fsum's are)."""
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(self.hi), self.hi + self.lo, self.hi)

    def __reduce__(self):
        return (Partial, (self.hi.size, self.hi, self.lo, self.count))


def reduce_chunks(chunk_sums: Callable[[int, int], np.ndarray], n: int, chunk: int, size: int, threads: int) -> Partial:
    """The compensated sum over ``[0, n)`` of ``chunk_sums(lo, hi)`` (each a float64 array of ``size``).

    With ``threads > 1`` up to that many chunks are in flight at once (the kernels
    release the GIL); their sums are combined in chunk order as they come, so
    memory stays bounded and the result does not depend on timing.
    """
    acc = Partial(size)
    bounds = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    if threads <= 1 or len(bounds) <= 1:
        for lo, hi in bounds:
            acc.add(chunk_sums(lo, hi), hi - lo)
        return acc
    pool = thread_pool("symgrad-data")
    pending: deque = deque()
    for lo, hi in bounds:
        if len(pending) >= threads:
            f, m = pending.popleft()
            acc.add(f.result(), m)
        pending.append((pool.submit(chunk_sums, lo, hi), hi - lo))
    while pending:
        f, m = pending.popleft()
        acc.add(f.result(), m)
    return acc
