"""How uncertain a fitted `PowerLaw` is: bootstrap refits, the noise levels in its residuals,
and the extrapolation error (drift) its prediction intervals add.

Pure functions of arrays; the estimator in :mod:`raylaws.fit._power` calls them in `fit` and
`predict_interval`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri, stdtrit

from raylaws.fit._forms import FitLoss, LawForm, least_squares_lines
from raylaws.fit._objective import fit_resamples
from raylaws.fit._selection import RollingErrors
from raylaws.fit._sigmoid import PlateauLaw

#: Growth of the extrapolation error per unit of ln x beyond the fitted sizes assumed when the
#: curve has too few sizes to backtest (ln y per e-fold of x). A guess, stated as one.
DEFAULT_DRIFT = 0.02
# Multiplies the drift measured by the rolling backtest. Calibrated on simulated curves only
# (known truth, misspecified forms, size and seed noise: `benchmarks/extrapolation.py --calibrate
# --seed 1`, 36 curves x 3 held-out sizes per form): at 1.0 the 95% intervals covered 97-100% for
# power, saturating, sigmoid and auto and 93% for m4; at 0.75, 90-98%; 0.85 sits between.
_DRIFT_SCALE = 0.85
_PLATEAU_BOOTSTRAP_ITERATIONS = 150


def bootstrap_thetas(form: LawForm, loss: FitLoss, ln_x: np.ndarray, ln_y: np.ndarray, counts: np.ndarray,
                     theta: np.ndarray) -> np.ndarray:
    """(B, k) internal parameters refitted to each hierarchical resample (``counts``: (B, n))."""
    model = form.model
    if counts.shape[0] == 0:
        return np.empty((0, len(form.param_names)))
    if form.name == "power" and loss == "squared":
        return least_squares_lines(ln_x[0], ln_y, counts)
    # Plateau laws creep along flat valleys: replicates differ far more than a 1e-4 gradient or
    # the last of 150 iterations moves them, and a few stragglers would otherwise hold the whole
    # batch for hundreds of iterations.
    plateau = isinstance(model, PlateauLaw)
    return fit_resamples(
        model, ln_x, ln_y, loss, counts, theta,  # type: ignore[arg-type]
        gtol=1e-4 if plateau else 1e-9, max_iter=_PLATEAU_BOOTSTRAP_ITERATIONS if plateau else 1000,
    )


def run_std(ln_x: np.ndarray, n_seeds: int, *, sizes: np.ndarray, size_noise_std: float,
            seed_noise_std: float, drift_per_ln_x: float) -> np.ndarray:
    """Std, in ln y, of a mean of ``n_seeds`` runs around a law at ln x: size-level and
    seed-level noise, plus the extrapolation error ``drift_per_ln_x`` per unit of ln x outside
    the fitted ``sizes``."""
    ln_range = np.log(sizes[[0, -1]])
    outside = np.maximum(0.0, np.maximum(ln_x - ln_range[1], ln_range[0] - ln_x))
    return np.sqrt(size_noise_std**2 + seed_noise_std**2 / n_seeds + (drift_per_ln_x * outside) ** 2)


def drift(rolling: RollingErrors | None) -> float:
    """Extrapolation error per unit of ln x beyond the fitted sizes, from backtest errors.

    The slope of a no-intercept regression of squared error on squared distance,
    sqrt(sum e² / sum d²), widened for being estimated from few errors by t(0.975, P) / z(0.975)
    (P errors: 1.6 from 3, 1.14 from 10), and scaled by `_DRIFT_SCALE`; `DEFAULT_DRIFT` without
    a backtest.
    """
    if rolling is None or rolling.errors.size == 0:
        return DEFAULT_DRIFT
    ratio = float(np.sum(rolling.errors**2) / np.sum(rolling.distances**2))
    small_sample = float(stdtrit(rolling.errors.size, 0.975) / ndtri(0.975))
    return _DRIFT_SCALE * small_sample * float(np.sqrt(ratio))


def noise_levels(
    residual: np.ndarray, size_index: np.ndarray, n_seeds: np.ndarray, n_params: int
) -> tuple[float, float]:
    """Split the ln y residuals into size-level and seed-level standard deviations.

    Model: ln y_ij = law(N_i) + u_i + e_ij, u ~ (0, s_u²) per size, e ~ (0, s_e²) per seed.
    s_e² is the pooled within-size variance; the size means' residuals have variance
    s_u² + s_e²/T_i, estimated with M - k degrees of freedom.

    Returns:
        (s_u, s_e).
    """
    n_sizes = n_seeds.size
    size_mean = np.bincount(size_index, weights=residual, minlength=n_sizes) / n_seeds
    within = residual - size_mean[size_index]
    within_dof = int(np.sum(n_seeds - 1))
    seed_var = float(within @ within) / within_dof if within_dof > 0 else 0.0
    between_dof = max(n_sizes - n_params, 1)
    between_var = float(size_mean @ size_mean) / between_dof
    size_var = max(0.0, between_var - seed_var * float(np.mean(1.0 / n_seeds)))
    return float(np.sqrt(size_var)), float(np.sqrt(seed_var))
