"""95% prediction intervals hold when extrapolating a misspecified law (a CI-sized check).

Curves from one law are fitted by another, with size and seed noise; each fit sees the 7
smallest of 10 sizes and its interval is checked at the 3 largest. benchmarks/extrapolation.py
runs the full version over every form.
"""

from __future__ import annotations

import warnings

import numpy as np

from raylaws.fit import DegenerateFitWarning, PowerLaw

SIZES = np.geomspace(1e6, 1e9, 10)
N_SEEDS = 3


def coverage(form: str, truth: str, n_curves: int, n_bootstrap: int) -> float:
    """Fraction of held-out sizes whose geometric mean falls in the 95% interval."""
    hits = []
    x = np.repeat(SIZES, N_SEEDS)
    for curve in range(n_curves):
        rng = np.random.default_rng(100 + curve)
        alpha = rng.uniform(0.25, 0.6)
        ln_x = np.log(x / 1e6)
        if truth == "saturating":
            mean = rng.uniform(1.0, 2.5) + rng.uniform(2.0, 6.0) * np.exp(-alpha * ln_x)
        else:  # broken power law: the exponent drops by 60% past a break
            ln_break = rng.uniform(2.0, 4.0)
            bent = ln_x - np.where(ln_x > ln_break, (ln_x - ln_break) * 0.6, 0.0)
            mean = rng.uniform(0.5, 1.5) + 4.0 * np.exp(-alpha * bent)
        size_noise = np.repeat(rng.normal(0.0, 0.005, SIZES.size), N_SEEDS)
        y = mean * np.exp(size_noise + rng.normal(0.0, 0.01, x.size))
        train = x < SIZES[-3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateFitWarning)
            law = PowerLaw(form, n_bootstrap=n_bootstrap, random_state=curve).fit(x[train], y[train])
        observed = np.exp(np.log(y[~train]).reshape(3, N_SEEDS).mean(axis=1))
        lo, hi = law.predict_interval(SIZES[-3:], 0.95, n_seeds=N_SEEDS)
        hits.extend((lo <= observed) & (observed <= hi))
    return float(np.mean(hits))


def test_power_law_intervals_hold_on_saturating_curves():
    assert coverage("power", "saturating", n_curves=40, n_bootstrap=200) >= 0.85


def test_saturating_intervals_hold_on_broken_power_laws():
    assert coverage("saturating", "broken", n_curves=8, n_bootstrap=50) >= 0.85


if __name__ == "__main__":
    for form, truth in (("power", "saturating"), ("saturating", "broken"), ("saturating", "saturating")):
        print(f"{form} fitted to {truth} curves: 95% intervals cover "
              f"{coverage(form, truth, 60, 200):.1%} of held-out sizes")
