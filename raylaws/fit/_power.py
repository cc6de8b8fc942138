"""`PowerLaw`: loss (or 1 - metric) against model size N, with the paper's hierarchical bootstrap.

N throughout is the number of non-embedding parameters, 12·L·H² in the paper's count (Ivgi et
al. 2022); the fitter works with whatever positive count it is given, but laws are only
comparable when N is counted the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from raylaws.fit import _validate
from raylaws.fit._base import BaseLaw
from raylaws.fit._bootstrap import group_sizes, hierarchical_resamples, percentile_interval
from raylaws.fit._objective import (
    LogSpaceObjective,
    SumOfPowers,
    fit_from_grid,
    fit_resamples,
    minimize,
)

if TYPE_CHECKING:
    import pyarrow as pa

Form = Literal["power", "saturating"]
LossChoice = Literal["auto", "squared", "huber"]

_MODELS: dict[str, SumOfPowers] = {
    "power": SumOfPowers(has_floor=False, n_terms=1),
    "saturating": SumOfPowers(has_floor=True, n_terms=1),
}
_PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "power": ("A", "alpha"),
    "saturating": ("E", "A", "alpha"),
}
# Exponents screened for starting points of the saturating fit (see `fit_from_grid`).
_ALPHA_GRID = np.linspace(0.02, 2.0, 100)[:, None]
_N_STARTS = 4


class PowerLaw(BaseLaw):
    """A scaling law y(N) fitted over sizes x seeds, with hierarchical-bootstrap uncertainty.

    Forms (N = non-embedding parameters, y = loss or 1 - metric, lower is better):

    - ``"power"``, the paper's law: ln y = ln A - alpha ln N, i.e. y = A·N^(-alpha), fitted by
      least squares in log-log space over every (size, seed) row (Ivgi et al. 2022). The paper
      writes it ln y = alpha' ln N + beta; here alpha = -alpha' > 0 when y falls with N.
    - ``"saturating"``: y = E + A·N^(-alpha), E >= 0, fitted as Hoffmann et al. (2022) and Epoch
      AI do: Huber loss (delta 1e-3) on log residuals, log-sum-exp parametrisation, L-BFGS with
      analytic gradients from a screened grid of starting points.

    Uncertainty is the paper's hierarchical bootstrap: each replicate resamples the sizes with
    replacement, then the seeds within each drawn size, and refits; intervals are percentiles of
    the replicates. Power-form replicates are solved in closed form all at once; others are
    warm-started from the full-data optimum.

    Args:
        form: ``"power"`` or ``"saturating"``.
        loss: Loss on log residuals: ``"squared"``, ``"huber"`` (delta 1e-3), or ``"auto"``:
            squared for ``"power"`` (the paper's least squares), Huber for ``"saturating"``
            (Hoffmann et al.).
        n_bootstrap: Number of bootstrap replicates B (the paper uses 1000). 0 skips the
            bootstrap: the fit is then a few milliseconds, and interval methods raise
            `NotFittedError`.
        random_state: Seed or `numpy.random.Generator` for the bootstrap. Two laws fitted on the
            same sizes with the same int seed draw the same size resamples, which `compare`
            uses to pair them.

    Attributes:
        params_: Fitted parameters by name: ``{"A", "alpha"}`` or ``{"E", "A", "alpha"}``.
        exponent_: alpha.
        r2_: R² = 1 - SS_res/SS_tot of ln y over all rows (the paper's goodness of fit; it treats
            R² >= 0.95 as the sign that predictions are reliable).
        bootstrap_params_: (B, k) replicate parameters, columns in `params_` order; (0, k) when
            ``n_bootstrap=0``.
        sizes_: (M,) distinct N values, ascending.
        n_sizes_: M.
        n_seeds_: (M,) number of rows (seeds) at each size, aligned with `sizes_`.
        size_noise_std_: Standard deviation of a size's true mean around the law, in ln y
            (pretraining variance and lack of fit), estimated from the residuals.
        seed_noise_std_: Standard deviation of one seed around its size's mean, in ln y, pooled
            over sizes with two or more seeds (0 when no size has two).

    Example:
        >>> import numpy as np
        >>> n = np.repeat([1e6, 4e6, 1.6e7, 6.4e7], 3)
        >>> y = 40.0 * n ** -0.2 * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
        >>> law = PowerLaw(n_bootstrap=200, random_state=0).fit(n, y)
        >>> round(law.exponent_, 2)
        0.2
        >>> lo, hi = law.confidence_intervals()["alpha"]
        >>> bool(lo < 0.2 < hi)
        True
    """

    def __init__(
        self,
        form: Form = "power",
        *,
        loss: LossChoice = "auto",
        n_bootstrap: int = 1000,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.form = form
        self.loss = loss
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def fit(self, n_params: ArrayLike, y: ArrayLike) -> PowerLaw:
        """Fit the law to one row per (size, seed).

        Args:
            n_params: (n_rows,) non-embedding parameter count of each row; rows with equal N are
                seeds of one size.
            y: (n_rows,) loss (or 1 - metric) of each row; lower is better.

        Returns:
            self, fitted.

        Raises:
            ValueError: On bad settings, or on non-positive or non-finite N or y, mismatched
                lengths, or fewer distinct sizes than the form has parameters; raised before any
                fitting, naming the argument.
        """
        model, loss = self._check_settings()
        n_values = _validate.positive_finite("n_params", n_params)
        y_values = _validate.positive_finite("y", y)
        _validate.same_length(n_params=n_values, y=y_values)
        sizes, size_index, n_seeds = group_sizes(n_values)
        names = _PARAM_NAMES[self.form]
        _validate.enough_sizes("n_params", sizes.size, len(names), f"the {self.form!r} form")

        ln_x = np.log(n_values)[None, :]
        ln_y = np.log(y_values)
        rng = np.random.default_rng(self.random_state)
        theta = self._fit_full(model, loss, ln_x, ln_y)

        resamples = hierarchical_resamples(
            size_index, self.n_bootstrap, rng, min_distinct_sizes=len(names)
        )
        if self.n_bootstrap == 0:
            thetas = np.empty((0, len(names)))
        elif self.form == "power" and loss == "squared":
            thetas = _least_squares_lines(ln_x[0], ln_y, resamples.counts)
        else:
            thetas = fit_resamples(model, ln_x, ln_y, loss, resamples.counts, theta)

        residual = ln_y - model.log_predict_many(theta[None], ln_x)[0]
        self.params_ = dict(zip(names, (float(v) for v in model.to_params(theta))))
        self.exponent_ = self.params_["alpha"]
        self.r2_ = float(1.0 - residual @ residual / np.sum((ln_y - ln_y.mean()) ** 2))
        self.bootstrap_params_ = model.to_params(thetas)
        self.sizes_ = sizes
        self.n_sizes_ = int(sizes.size)
        self.n_seeds_ = n_seeds
        self.size_noise_std_, self.seed_noise_std_ = _noise_levels(
            residual, size_index, n_seeds, n_params=len(names)
        )
        self._model = model
        self._theta = theta
        self._bootstrap_thetas = thetas
        self._bootstrap_size_draws = resamples.size_draws
        # Standard normal draws, one per replicate, that turn curve replicates into predictive
        # replicates in `predict_interval`; drawn here so that method is deterministic.
        self._noise_draws = rng.standard_normal(self.n_bootstrap)
        self._n_fit = n_values
        self._y_fit = y_values
        return self

    def _check_settings(self) -> tuple[SumOfPowers, Literal["squared", "huber"]]:
        if self.form not in _MODELS:
            raise ValueError(f"form: must be 'power' or 'saturating', got {self.form!r}")
        if self.loss not in ("auto", "squared", "huber"):
            raise ValueError(f"loss: must be 'auto', 'squared' or 'huber', got {self.loss!r}")
        _validate.n_bootstrap(self.n_bootstrap)
        loss: Literal["squared", "huber"]
        if self.loss == "auto":
            loss = "squared" if self.form == "power" else "huber"
        else:
            loss = self.loss
        return _MODELS[self.form], loss

    def _fit_full(
        self,
        model: SumOfPowers,
        loss: Literal["squared", "huber"],
        ln_x: np.ndarray,
        ln_y: np.ndarray,
    ) -> np.ndarray:
        if self.form == "power":
            theta = _least_squares_lines(ln_x[0], ln_y, np.ones((1, ln_y.size)))[0]
            if loss == "huber":
                objective = LogSpaceObjective(model, ln_x, ln_y, np.ones((1, ln_y.size)), loss)
                theta = minimize(objective, theta[None]).x[0]
            return theta
        return fit_from_grid(model, ln_x, ln_y, loss, _ALPHA_GRID, _N_STARTS)

    # --------------------------------------------------------------- prediction

    def predict(self, n_params: ArrayLike) -> np.ndarray:
        """Predict y at N.

        Args:
            n_params: Non-embedding parameter count(s), scalar or 1-D.

        Returns:
            Predictions with the shape of `n_params` (a numpy scalar for a scalar).
        """
        self._check_fitted()
        n_values = _validate.positive_finite("n_params", n_params, allow_scalar=True)
        ln_x = np.log(n_values).reshape(1, -1)
        prediction = np.exp(self._model.log_predict_many(self._theta[None], ln_x)[0])
        return prediction.reshape(n_values.shape)[()]

    def predict_replicates(self, n_params: ArrayLike) -> np.ndarray:
        """Predict y at N under every bootstrap replicate of the fit (no run-to-run noise).

        Args:
            n_params: Non-embedding parameter count(s), scalar or 1-D.

        Returns:
            (B, *shape of n_params) predictions.
        """
        self._check_bootstrapped("predict_replicates")
        n_values = _validate.positive_finite("n_params", n_params, allow_scalar=True)
        ln_x = np.log(n_values).reshape(1, -1)
        log_predictions = self._model.log_predict_many(self._bootstrap_thetas, ln_x)
        return np.exp(log_predictions).reshape(-1, *n_values.shape)

    def predict_interval(
        self, n_params: ArrayLike, level: float = 0.95, *, n_seeds: int | None = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap interval for what a run (or a mean over seeds) at N will give.

        Each bootstrap replicate's prediction is perturbed, in ln y, by a normal draw with the
        estimated run-to-run variance size_noise_std_² + seed_noise_std_² / n_seeds, and the
        interval is the percentiles of the result: the uncertainty of the fit and the noise of a
        new size's outcome together.

        Args:
            n_params: Non-embedding parameter count(s), scalar or 1-D.
            level: Coverage, e.g. 0.95 for the [2.5, 97.5] percentiles.
            n_seeds: The interval is for the geometric mean of y over this many seeds of one new
                size (1: a single run). None: the interval of the fitted curve itself, without
                run-to-run noise.

        Returns:
            (lo, hi), each with the shape of `n_params`.
        """
        level = _validate.level(level)
        replicates = np.log(self.predict_replicates(n_params))
        if n_seeds is not None:
            if int(n_seeds) < 1:
                raise ValueError(f"n_seeds: must be a positive integer or None, got {n_seeds!r}")
            std = np.sqrt(self.size_noise_std_**2 + self.seed_noise_std_**2 / int(n_seeds))
            noise = self._noise_draws.reshape(-1, *([1] * (replicates.ndim - 1))) * std
            replicates = replicates + noise
        lo, hi = percentile_interval(replicates, level)
        return np.exp(lo)[()], np.exp(hi)[()]

    def off_law(self, level: float = 0.95) -> pa.Table:
        """Flag sizes whose mean lies off the law fitted to the other sizes.

        Runs `raylaws.fit.off_law` on the data this law was fitted to; see there.

        Args:
            level: Coverage of the prediction interval each size is checked against.

        Returns:
            One row per size; see `raylaws.fit.off_law`.
        """
        from raylaws.fit._analysis import off_law

        self._check_fitted()
        return off_law(self, self._n_fit, self._y_fit, level=level)


def _least_squares_lines(ln_n: np.ndarray, ln_y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares fits of ln y = a - alpha ln N, one per row of `weights`, at once.

    Args:
        ln_n: (n,) ln N.
        ln_y: (n,) ln y.
        weights: (B, n) non-negative weights (bootstrap counts, or ones for the plain fit); each
            row must put weight on at least two distinct N.

    Returns:
        (B, 2) thetas (a = ln A, alpha).
    """
    # Centre both variables once so the moments below do not cancel catastrophically.
    x_mean, y_mean = ln_n.mean(), ln_y.mean()
    x, y = ln_n - x_mean, ln_y - y_mean
    total = weights.sum(axis=1)
    mean_x = weights @ x / total
    mean_y = weights @ y / total
    var_x = weights @ (x * x) / total - mean_x**2
    cov_xy = weights @ (x * y) / total - mean_x * mean_y
    slope = cov_xy / var_x
    intercept = y_mean + mean_y - slope * (mean_x + x_mean)
    return np.stack([intercept, -slope], axis=1)


def _noise_levels(
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
