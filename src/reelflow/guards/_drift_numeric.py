"""The numeric side of drift: finite values, a fine shared histogram, and the bins reports plot.

Small columns (reference + current at most ``EXACT_ROWS`` values) are compared exactly, from the
values themselves. Larger ones are compared on one histogram of ``FINE_BINS`` equal-width bins
over the range both sides share: one vectorized pass per side (subtract, scale, ``bincount``), no
sort. The Wasserstein distance on that histogram assumes values spread evenly inside a bin; its
error is at most two bin widths, and when that bound exceeds ``MAX_ERROR`` of the reference std
the exact computation is used instead. The coarser bins (30 for Jensen-Shannon and the plot,
reference deciles for PSI and chi-square) are sums of fine bins.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import numpy as np
import pyarrow as pa

from reelflow.guards._drift_columns import Column

EXACT_ROWS = 20_000
FINE_BINS = 61_440  # 2**12 * 15: divisible by 30 (plot and Jensen-Shannon bins)
PLOT_BINS = 30
MAX_ERROR = 0.01  # of the reference std, for the histogram Wasserstein distance
MAX_SNAP = 0.01  # of the reference, moved across a decile cut snapped to the fine grid
STD_FLOOR = 0.001  # Evidently's floor for the std that normalizes the Wasserstein distance
DECILES = np.linspace(0.1, 0.9, 9)
BLOCK = 1 << 17  # values binned at a time, so the intermediates stay in cache


class NumericSide:
    """One side's numbers: ``data`` may still hold NaN (``clean`` False), never inf."""

    def __init__(self, data: np.ndarray, rows: int, nulls: int = 0, infinite: int = 0) -> None:
        self.data, self.rows, self.nulls, self.infinite = data, rows, nulls, infinite
        self.clean = nulls == 0 or len(data) < rows  # NaN are gone once inf were dropped
        self.count = rows - nulls - infinite
        self.low = self.high = np.nan
        if self.count and self.clean:
            self.low, self.high = float(data.min()), float(data.max())
        elif self.count:
            self.low, self.high = float(np.fmin.reduce(data)), float(np.fmax.reduce(data))

    @cached_property
    def values(self) -> np.ndarray:
        """The finite values (a copy only when there were NaN)."""
        return self.data if self.clean else self.data[~np.isnan(self.data)]

    def blocks(self) -> Iterator[np.ndarray]:
        """The finite values in cache-sized blocks (NaN dropped block by block)."""
        for start in range(0, len(self.data), BLOCK):
            block = self.data[start : start + BLOCK]
            yield block if self.clean else block[~np.isnan(block)]

    @cached_property
    def std(self) -> float:
        """The population std of the finite values (blocks merged with Chan's formula)."""
        if self.clean:
            return float(np.std(self.data))
        count, mean, m2 = 0, 0.0, 0.0
        for block in self.blocks():
            n = len(block)
            if n == 0:
                continue
            block_mean = float(block.mean())
            centered = block - block_mean
            block_m2 = float(np.square(centered, out=centered).sum())
            delta, total = block_mean - mean, count + n
            mean += delta * n / total
            m2 += block_m2 + delta * delta * count * n / total
            count = total
        return float(np.sqrt(m2 / count)) if count else 0.0


def numeric_side(column: Column) -> NumericSide:
    """The numbers of ``column``: a view when there are no nulls, NaN or inf."""
    data = column.data
    if not isinstance(data, np.ndarray):
        data = _arrow_numbers(data)
    if len(data) == 0:
        return NumericSide(data.astype(np.float64), 0)
    if data.dtype.kind in "iu" or (np.isfinite(data.min()) and np.isfinite(data.max())):
        return NumericSide(data, len(data))
    nulls = int(np.count_nonzero(np.isnan(data)))
    if np.isfinite(np.fmin.reduce(data)) and np.isfinite(np.fmax.reduce(data)):
        return NumericSide(data, len(data), nulls)
    finite = data[np.isfinite(data)]
    return NumericSide(finite, len(data), nulls, len(data) - nulls - len(finite))


def _arrow_numbers(chunked: pa.ChunkedArray) -> np.ndarray:
    """Numbers of an Arrow column as numpy (zero copy for one chunk without nulls)."""
    if chunked.type.equals(pa.null()):
        return np.full(len(chunked), np.nan)
    arrays = [chunk.to_numpy(zero_copy_only=False) for chunk in chunked.chunks]
    if chunked.null_count and arrays and arrays[0].dtype.kind != "f":
        arrays = [array.astype(np.float64) for array in arrays]
    if len(arrays) == 1:
        return np.asarray(arrays[0])
    return np.concatenate(arrays) if arrays else np.empty(0)


class NumericPair:
    """Reference and current finite values, with the shared bins every statistic uses."""

    def __init__(self, ref: NumericSide, cur: NumericSide) -> None:
        self.ref = ref
        self.cur = cur
        self.low = min(ref.low, cur.low)
        self.high = max(ref.high, cur.high)
        self.width = (self.high - self.low) / FINE_BINS
        self.exact = ref.count + cur.count <= EXACT_ROWS or not np.isfinite(self.width)

    @cached_property
    def ref_std(self) -> float:
        """The reference std (population), floored at Evidently's 0.001."""
        return max(self.ref.std, STD_FLOOR)

    @cached_property
    def fine(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of each side in ``FINE_BINS`` equal-width bins over the shared range."""
        return _fine_counts(self.ref, self.low, self.high), _fine_counts(
            self.cur, self.low, self.high
        )

    @cached_property
    def histogram_error(self) -> float:
        """The bound on the histogram Wasserstein error, as a share of the reference std."""
        return 2.0 * self.width / self.ref_std

    @cached_property
    def sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """Both sides sorted, as float64."""
        return np.sort(self.ref.values.astype(np.float64)), np.sort(
            self.cur.values.astype(np.float64)
        )

    def plot_bins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``PLOT_BINS`` equal-width bins over the shared range: edges and counts per side."""
        edges = np.linspace(self.low, self.high, PLOT_BINS + 1)
        if self.high == self.low:
            edges = np.array([self.low - 0.5, self.high + 0.5])
        if self.exact or self.high == self.low:
            ref = np.histogram(self.ref.values, bins=edges)[0]
            return edges, ref, np.histogram(self.cur.values, bins=edges)[0]
        ref, cur = self.fine
        step = FINE_BINS // PLOT_BINS
        return edges, ref.reshape(PLOT_BINS, step).sum(1), cur.reshape(PLOT_BINS, step).sum(1)

    def decile_bins(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Counts per side in bins cut at the reference deciles (ties merged), and whether the
        cuts were snapped to the fine grid (only when that moves < ``MAX_SNAP`` of the
        reference across a cut; otherwise they are exact)."""
        if not self.exact:
            ref, cur = self.fine
            ref_cum, cur_cum = np.cumsum(ref), np.cumsum(cur)
            cuts = np.unique(np.searchsorted(ref_cum, DECILES * ref_cum[-1], side="left"))
            if ref[cuts].max() < MAX_SNAP * ref_cum[-1]:
                ref_bins = np.diff(ref_cum[cuts], prepend=0, append=ref_cum[-1])
                return ref_bins, np.diff(cur_cum[cuts], prepend=0, append=cur_cum[-1]), True
        ref_sorted, cur_sorted = self.sorted
        cuts = np.unique(np.quantile(ref_sorted, DECILES))
        return _split_counts(ref_sorted, cuts), _split_counts(cur_sorted, cuts), False


def _split_counts(sorted_values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Counts of ``sorted_values`` in (-inf, c1], (c1, c2], ..., (ck, inf)."""
    ends = np.searchsorted(sorted_values, cuts, side="right")
    return np.diff(ends, prepend=0, append=len(sorted_values))


def _fine_counts(side: NumericSide, low: float, high: float) -> np.ndarray:
    """Counts of ``side``'s values in ``FINE_BINS`` equal-width bins over [low, high]."""
    counts = np.zeros(FINE_BINS, dtype=np.intp)
    if high == low:
        counts[0] = side.count
        return counts
    scale = FINE_BINS * (1 - 1e-12) / (high - low)  # ``high`` lands in the last bin
    scaled, index = np.empty(BLOCK), np.empty(BLOCK, dtype=np.intp)
    for block in side.blocks():
        size = len(block)
        # in float64: float32 rounding of ``block - low`` can land past the last bin
        np.subtract(block, low, out=scaled[:size], dtype=np.float64)
        scaled[:size] *= scale
        np.copyto(index[:size], scaled[:size], casting="unsafe")
        np.minimum(index[:size], FINE_BINS - 1, out=index[:size])
        counts += np.bincount(index[:size], minlength=FINE_BINS)
    return counts


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """The exact 1-Wasserstein distance between two sorted samples (their quantile functions).

    Both quantile functions step at ``i/n`` and ``j/m``; on every piece between two steps the
    distance adds the piece's length times the gap between the two values there.
    """
    n, m = len(u), len(v)
    steps = np.concatenate([np.arange(1, n + 1, dtype=np.int64) * m, np.arange(1, m + 1) * n])
    steps.sort()
    lengths = np.diff(steps, prepend=0) / (n * m)
    gaps = np.abs(u[(steps - 1) // m] - v[(steps - 1) // n])
    return float((lengths * gaps).sum())


def wasserstein_histogram(ref: np.ndarray, cur: np.ndarray, width: float) -> float:
    """The 1-Wasserstein distance of two fine histograms, values spread evenly inside a bin."""
    gap = np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum()
    a, b = np.concatenate([[0.0], gap[:-1]]), gap
    size = np.abs(a) + np.abs(b)
    crossing = a * b < 0
    area = np.where(crossing, (a * a + b * b) / np.where(crossing, 2 * size, 1.0), size / 2)
    return float(width * area.sum())


def ks_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """The exact Kolmogorov-Smirnov statistic of two sorted samples (CDFs at every value)."""
    gap_u = np.searchsorted(u, u, side="right") / len(u) - np.searchsorted(v, u, "right") / len(v)
    gap_v = np.searchsorted(u, v, side="right") / len(u) - np.searchsorted(v, v, "right") / len(v)
    return float(max(np.abs(gap_u).max(), np.abs(gap_v).max()))
