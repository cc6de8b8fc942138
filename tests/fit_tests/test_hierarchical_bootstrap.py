"""The paper's hierarchical bootstrap, checked against a slow, obviously correct reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from raylaws.fit import PowerLaw
from raylaws.fit._bootstrap import group_sizes, hierarchical_resamples

# A small ragged case: 5 sizes, 3 seeds each except one size with 2.
SIZES = np.array([1e5, 4e5, 1.6e6, 6.4e6, 2.56e7])
SEEDS = np.array([3, 3, 2, 3, 3])


def small_sweep(seed: int, size_noise: float = 0.03, seed_noise: float = 0.01):
    rng = np.random.default_rng(seed)
    n = np.repeat(SIZES, SEEDS)
    u = np.repeat(rng.normal(0, size_noise, SIZES.size), SEEDS)
    return n, 20.0 * n**-0.25 * np.exp(u + rng.normal(0, seed_noise, n.size))


def reference_bootstrap_exponents(n, y, n_resamples, rng, *, hierarchical=True):
    """The paper's procedure, literally: draw sizes, then seeds within each, then polyfit."""
    sizes = np.unique(n)
    exponents = []
    while len(exponents) < n_resamples:
        drawn_sizes = rng.choice(sizes, size=sizes.size, replace=True) if hierarchical else sizes
        if np.unique(drawn_sizes).size < 2:  # a line needs two sizes; redraw, as raylaws does
            continue
        rows_n, rows_y = [], []
        for size in drawn_sizes:
            seeds_y = y[n == size]
            picked = rng.choice(seeds_y, size=seeds_y.size, replace=True)
            rows_n += [size] * seeds_y.size
            rows_y += list(picked)
        slope, _ = np.polyfit(np.log(rows_n), np.log(rows_y), 1)
        exponents.append(-slope)
    return np.array(exponents)


def test_each_replicate_draws_whole_sizes_then_that_many_seeds_from_each():
    n, _ = small_sweep(0)
    sizes, size_index, n_seeds = group_sizes(n)
    resamples = hierarchical_resamples(size_index, 500, np.random.default_rng(1))
    for draws, counts in zip(resamples.size_draws, resamples.counts):
        times_drawn = np.bincount(draws, minlength=sizes.size)
        rows_per_size = np.bincount(size_index, weights=counts, minlength=sizes.size)
        np.testing.assert_array_equal(rows_per_size, times_drawn * n_seeds)
        # A size that was not drawn contributes no seed at all.
        assert np.all(counts[np.isin(size_index, np.flatnonzero(times_drawn == 0))] == 0)


def test_vectorised_power_bootstrap_equals_polyfit_on_each_resampled_dataset():
    n, y = small_sweep(2)
    law = PowerLaw(n_bootstrap=200, random_state=7).fit(n, y)
    # White box: fit() draws its resamples first from default_rng(random_state).
    _, size_index, _ = group_sizes(n)
    resamples = hierarchical_resamples(
        size_index, 200, np.random.default_rng(7), min_distinct_sizes=2
    )
    for counts, (A, alpha) in zip(resamples.counts, law.bootstrap_params_):
        rows = np.repeat(np.arange(n.size), counts.astype(int))
        slope, intercept = np.polyfit(np.log(n[rows]), np.log(y[rows]), 1)
        assert alpha == pytest.approx(-slope, rel=1e-9, abs=1e-12)
        assert A == pytest.approx(np.exp(intercept), rel=1e-9)


def test_bootstrap_distribution_matches_the_slow_reference():
    n, y = small_sweep(3)
    fast = PowerLaw(n_bootstrap=4000, random_state=11).fit(n, y).bootstrap_params_[:, 1]
    slow = reference_bootstrap_exponents(n, y, 4000, np.random.default_rng(12))
    # With 5 sizes the distribution is lumpy, so compare whole distributions (two-sample KS;
    # the 0.1% critical value for 4000 vs 4000 is 0.044) and spreads, not single quantiles.
    assert stats.ks_2samp(fast, slow).statistic < 0.044
    assert fast.std() == pytest.approx(slow.std(), rel=0.1)
    # The check has teeth: resampling seeds only (the naive bootstrap) fails it by far.
    naive = reference_bootstrap_exponents(
        n, y, 4000, np.random.default_rng(13), hierarchical=False
    )
    assert stats.ks_2samp(fast, naive).statistic > 0.2
    assert naive.std() < 0.6 * slow.std()


def test_replicates_that_cannot_identify_the_law_are_redrawn():
    n = np.repeat([1e6, 1e7], 4)
    y = 10.0 * n**-0.2 * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
    law = PowerLaw(n_bootstrap=300, random_state=0).fit(n, y)
    assert np.all(np.isfinite(law.bootstrap_params_))
    assert np.all(np.sort(law._bootstrap_size_draws, axis=1) == [0, 1])


def test_saturating_replicate_equals_a_fresh_fit_of_its_resampled_rows(sweep):
    n, y = sweep(seed=4, E=1.5, A=300.0, alpha=0.3, size_noise=0.003, seed_noise=0.003)
    law = PowerLaw("saturating", n_bootstrap=30, random_state=5).fit(n, y)
    _, size_index, _ = group_sizes(n)
    resamples = hierarchical_resamples(
        size_index, 30, np.random.default_rng(5), min_distinct_sizes=3
    )
    grid = np.geomspace(1e4, 1e9, 6)
    E, A, alpha = law.bootstrap_params_.T
    for b in range(0, 30, 6):
        rows = np.repeat(np.arange(n.size), resamples.counts[b].astype(int))
        fresh = PowerLaw("saturating", n_bootstrap=0).fit(n[rows], y[rows])
        replicate_curve = E[b] + A[b] * grid ** -alpha[b]
        np.testing.assert_allclose(replicate_curve, fresh.predict(grid), rtol=1e-5)
