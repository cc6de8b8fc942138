"""The paper's hierarchical bootstrap, drawn for all replicates at once.

Ivgi et al. (2022): resample the M sizes with replacement, then resample the T seeds within each
drawn size with replacement; B = 1000; percentile intervals. Resampling only seeds (the naive
bootstrap) would ignore the per-size (pretraining) variance.

A resample is stored as counts: `counts[b, i]` is how often data row i appears in replicate b, so
a weighted fit with those counts as weights is exactly the fit on the resampled rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Resamples:
    """B hierarchical bootstrap resamples of a dataset of sizes x seeds.

    Attributes:
        size_draws: (B, M) indices into the sorted distinct sizes drawn for each replicate. Two
            fits on the same sizes with equal `size_draws` are paired replicate by replicate.
        counts: (B, n_rows) float counts of each data row in each replicate.
    """

    size_draws: np.ndarray
    counts: np.ndarray


def group_sizes(n_params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group data rows by size.

    Returns:
        sizes: (M,) distinct sizes, ascending.
        size_index: (n_rows,) index into `sizes` of each row.
        n_seeds: (M,) number of rows (seeds) at each size.
    """
    sizes, size_index, n_seeds = np.unique(n_params, return_inverse=True, return_counts=True)
    return sizes, size_index.reshape(-1), n_seeds


def hierarchical_resamples(
    size_index: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    *,
    min_distinct_sizes: int = 1,
) -> Resamples:
    """Draw B two-level bootstrap resamples: sizes with replacement, then seeds within each.

    A replicate that draws fewer than `min_distinct_sizes` distinct sizes cannot identify the law
    (e.g. a line through one size) and is redrawn; with M sizes and k parameters that happens with
    small probability unless M is close to k.

    Args:
        size_index: (n_rows,) size of each row, as an index 0..M-1 (see `group_sizes`).
        n_resamples: B.
        rng: Source of randomness.
        min_distinct_sizes: Fewest distinct sizes a replicate must contain (the law's k).

    Returns:
        The resamples, as size draws and per-row counts.
    """
    n_rows = size_index.size
    n_sizes = int(size_index.max()) + 1
    if min_distinct_sizes > n_sizes:
        raise ValueError(
            f"min_distinct_sizes: {min_distinct_sizes} exceeds the {n_sizes} sizes available"
        )
    n_seeds = np.bincount(size_index, minlength=n_sizes)
    # Rows of size s are rows_by_size[start[s] : start[s] + n_seeds[s]].
    rows_by_size = np.argsort(size_index, kind="stable")
    start = np.concatenate([[0], np.cumsum(n_seeds)[:-1]])

    size_draws = rng.integers(n_sizes, size=(n_resamples, n_sizes))
    while True:
        degenerate = np.flatnonzero(_n_distinct(size_draws) < min_distinct_sizes)
        if degenerate.size == 0:
            break
        size_draws[degenerate] = rng.integers(n_sizes, size=(degenerate.size, n_sizes))

    # Seeds within each drawn size: T_s draws from that size's T_s seeds, padded to max T.
    seeds_drawn = n_seeds[size_draws][..., None]  # (B, M, 1)
    max_seeds = int(n_seeds.max())
    seed_draws = rng.integers(seeds_drawn, size=(n_resamples, n_sizes, max_seeds))
    used = np.arange(max_seeds) < seeds_drawn  # (B, M, max T)
    rows = rows_by_size[start[size_draws][..., None] + seed_draws]
    replicate = np.broadcast_to(np.arange(n_resamples)[:, None, None], rows.shape)
    flat = (replicate * n_rows + rows)[used]
    counts = np.bincount(flat, minlength=n_resamples * n_rows).reshape(n_resamples, n_rows)
    return Resamples(size_draws=size_draws, counts=counts.astype(np.float64))


def _n_distinct(draws: np.ndarray) -> np.ndarray:
    """Number of distinct values in each row of a 2-D integer array."""
    ordered = np.sort(draws, axis=1)
    return 1 + np.count_nonzero(np.diff(ordered, axis=1), axis=1)


def percentile_interval(
    replicates: np.ndarray, level: float, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval: the (1 - level)/2 and (1 + level)/2 quantiles.

    Non-finite replicates (a failed refit) are ignored.
    """
    tail = 50.0 * (1.0 - level)
    lo, hi = np.nanpercentile(
        np.where(np.isfinite(replicates), replicates, np.nan), [tail, 100.0 - tail], axis=axis
    )
    return lo, hi
