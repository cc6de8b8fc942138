"""The hierarchical bootstrap's 95% interval of the exponent covers the truth honestly.

Run as a script to print the coverage figure:

    .venv/bin/python tests/fit_tests/test_interval_coverage.py
"""

from __future__ import annotations

import numpy as np

from raylaws.fit import PowerLaw

TRUE_ALPHA = 0.3
N_DATASETS = 1000  # x 1000 bootstraps each: about 2 s; coverage s.e. ~0.7 points
# The paper's AR-32 ladder, L = 1..8: N = 12 L H^2 non-embedding parameters, H = 32 L.
SIZES = 12 * np.arange(1, 9) * (32 * np.arange(1, 9)) ** 2.0
N_SEEDS = 5


def exponent_coverage(n_datasets: int = N_DATASETS, level: float = 0.95) -> float:
    """Fraction of simulated sweeps whose bootstrap interval of alpha contains the true alpha.

    Each sweep: the paper's 8 sizes x 5 seeds, y = 50 N^-0.3 exp(u + e), with size-level
    (pretraining) noise u and seed-level noise e both 1% in ln y; 1000 bootstraps per fit.
    """
    covered = 0
    n = np.repeat(SIZES, N_SEEDS)
    for dataset in range(n_datasets):
        rng = np.random.default_rng(1000 + dataset)
        u = np.repeat(rng.normal(0.0, 0.01, SIZES.size), N_SEEDS)
        y = 50.0 * n**-TRUE_ALPHA * np.exp(u + rng.normal(0.0, 0.01, n.size))
        law = PowerLaw(n_bootstrap=1000, random_state=dataset).fit(n, y)
        lo, hi = law.confidence_intervals(level)["alpha"]
        covered += lo <= TRUE_ALPHA <= hi
    return covered / n_datasets


def test_exponent_interval_covers_the_truth_between_88_and_99_percent():
    coverage = exponent_coverage()
    assert 0.88 <= coverage <= 0.99, coverage


if __name__ == "__main__":
    print(f"95% interval of alpha covers the truth in {exponent_coverage():.1%} of "
          f"{N_DATASETS} simulated sweeps")
