"""`PowerLaw`: loss (or 1 - metric) against model size N, with the paper's hierarchical bootstrap.

N throughout is the number of non-embedding parameters, 12·L·H² in the paper's count (Ivgi et
al. 2022); the fitter works with whatever positive count it is given, but laws are only
comparable when N is counted the same way.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from raylaws.fit import _validate
from raylaws.fit._base import BaseLaw, NotFittedError
from raylaws.fit._blend import Blend
from raylaws.fit._bootstrap import group_sizes, hierarchical_resamples, percentile_interval
from raylaws.fit._degenerate import DegenerateFitWarning, degeneracies
from raylaws.fit._forms import FORMS, FitLoss, LawForm, fit_theta
from raylaws.fit._selection import FormSelection, RollingErrors, rolling_errors, select_form
from raylaws.fit._uncertainty import DEFAULT_DRIFT, bootstrap_thetas, drift, noise_levels, run_std

Form = Literal["power", "saturating", "sigmoid", "m4", "auto"]
LossChoice = Literal["auto", "squared", "huber"]

__all__ = ["DEFAULT_DRIFT", "DegenerateFitWarning", "Form", "LossChoice", "PowerLaw"]


class PowerLaw(BaseLaw):
    """A scaling law y(x) fitted over sizes x seeds, with hierarchical-bootstrap uncertainty.

    x is the scale: N, non-embedding parameters, for a raylaws sweep (written N below), or
    tokens, compute, data set size for other curves (name it with `x_name`). Forms (y = loss or
    1 - metric, lower is better):

    - ``"power"``, the paper's law: ln y = ln A - alpha ln N, i.e. y = A·N^(-alpha), fitted by
      least squares in log-log space over every (size, seed) row (Ivgi et al. 2022). The paper
      writes it ln y = alpha' ln N + beta; here alpha = -alpha' > 0 when y falls with N.
    - ``"saturating"``: y = E + A·N^(-alpha), E >= 0, fitted as Hoffmann et al. (2022) and Epoch
      AI do: Huber loss (delta 1e-3) on log residuals, log-sum-exp parametrisation, L-BFGS with
      analytic gradients from a screened grid of starting points.
    - ``"m4"``: (y - E) / (L0 - y)^gamma = A·N^(-alpha), Alabdulmohsin et al. (2022)'s M4 (their
      L_inf, L_0, beta, c, alpha are E, L0, A, alpha, gamma): a curve that starts on a plateau
      near L0 (chance error, an untrained model's loss), falls as a power of N and levels off at
      E. Same loss, parametrisation (E > 0, L0 > E) and analytic gradients (the law is implicit
      in y, solved by Newton's method); starts screened over a grid of (E, L0, gamma).
    - ``"sigmoid"``: M4 with gamma = 1, y = E + (L0 - E) / (1 + N^alpha / A): a logistic curve in
      ln N, one parameter fewer.
    - ``"auto"``: a rolling-origin backtest of each form (fit on the m smallest sizes, score
      the log-error of predicting every larger size, for each m), then the average, in ln y,
      of every form whose backtest RMSE is within 40% of the best one's, with equal weights
      (often one form alone: a form that is wrong backtests far worse). `selection_` gives the
      weights, every form's score and why each was kept or left out; `params_` are those of
      the form that backtested best, while predictions and intervals are the average's. A form
      competes only with at least k + 3 sizes (k its parameter count: 5 for power, 6
      saturating, 7 sigmoid, 8 m4), and all are scored on the origins the richest allows,
      often just 2 or 3 fits; do not trust ``auto`` with fewer than about 8 sizes. With fewer
      than 5 sizes it falls back to ``"power"`` untested.

    Uncertainty is the paper's hierarchical bootstrap: each replicate resamples the sizes with
    replacement, then the seeds within each drawn size, and refits; intervals are percentiles of
    the replicates. Power-form replicates are solved in closed form all at once; others are
    warm-started from the full-data optimum.

    Args:
        form: ``"power"``, ``"saturating"``, ``"sigmoid"``, ``"m4"`` or ``"auto"``.
        loss: Loss on log residuals: ``"squared"``, ``"huber"`` (delta 1e-3), or ``"auto"``:
            squared for ``"power"`` (the paper's least squares), Huber for the others
            (Hoffmann et al.).
        n_bootstrap: Number of bootstrap replicates B (the paper uses 1000). 0 skips the
            bootstrap: the fit is then a few milliseconds, and interval methods raise
            `NotFittedError`.
        random_state: Seed or `numpy.random.Generator` for the bootstrap. Two laws fitted on the
            same sizes with the same int seed draw the same size resamples, which `compare`
            uses to pair them.
        x_name: What x is, used to name it in error messages (``"n_params"``: N of a sweep).

    Attributes:
        form_: The form fitted (for ``"auto"``: the one that backtested best; the law predicts
            with the average `selection_.weights` describes).
        selection_: `FormSelection` for ``"auto"`` (the forms averaged and their weights, the
            best form, runner-up, backtest scores, reason); None otherwise.
        params_: Fitted parameters by name: ``{"A", "alpha"}``, ``{"E", "A", "alpha"}``,
            ``{"E", "L0", "A", "alpha"}`` (sigmoid) or ``{"E", "L0", "A", "alpha", "gamma"}``.
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
        backtest_rmse_: RMSE of ln y of the rolling-origin backtest of the fitted form (nan when
            not run: ``n_bootstrap=0`` and a fixed form, or too few sizes).
        drift_: Extrapolation error, in ln y per unit of ln x beyond the fitted sizes, that
            `predict_interval` adds (from the backtest; `DEFAULT_DRIFT` without one).
        problems_: Why the fit is degenerate, one sentence each (each also warned as a
            `DegenerateFitWarning`); empty for a sound fit.
        x_, y_: The data fitted.

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
        x_name: str = "n_params",
    ) -> None:
        self.form = form
        self.loss = loss
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.x_name = x_name

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        x: ArrayLike | None = None,
        y: ArrayLike | None = None,
        *,
        n_params: ArrayLike | None = None,
    ) -> PowerLaw:
        """Fit the law to one row per (size, seed).

        Args:
            x: (n_rows,) scale of each row: N non-embedding parameters for a raylaws sweep, or
                tokens, compute, data set size...; rows with equal x are seeds of one size.
            y: (n_rows,) loss (or 1 - metric) of each row; lower is better.
            n_params: Alias of `x` for sweeps, where x is N (give one of the two).

        Returns:
            self, fitted.

        Raises:
            ValueError: On bad settings, or on non-positive or non-finite x or y, mismatched
                lengths, or fewer distinct sizes than the form has parameters; raised before any
                fitting, naming the argument (x is named by `x_name`).

        Warns:
            DegenerateFitWarning: When y does not fall with x, the fitted law is flat or no
                better than a constant, or a parameter sits at its bound.
        """
        form, loss = _settings(self.form, self.loss, self.n_bootstrap)
        x = _one_of(x, n_params)
        x_values = _validate.positive_finite(self.x_name, x)
        y_values = _validate.positive_finite("y", y)
        _validate.same_length(**{self.x_name: x_values, "y": y_values})
        sizes, size_index, n_seeds = group_sizes(x_values)
        needed = 2 if form is None else form.n_coefficients
        what = f"the {self.form!r} form"
        _validate.enough_sizes(self.x_name, sizes.size, needed, what)

        ln_x = np.log(x_values)[None, :]
        ln_y = np.log(y_values)
        ln_sizes = np.log(sizes)
        rng = np.random.default_rng(self.random_state)
        rolling: RollingErrors | None = None
        if form is None:
            self.selection_, backtests = select_form(self.loss, ln_x, ln_y, size_index, ln_sizes)
            members = tuple(FORMS[name] for name in self.selection_.weights)
            rolling = backtests.get("auto")
        else:
            members = (form,)
            self.selection_ = None
        form = members[0]
        losses = [loss if loss is not None else member.default_loss for member in members]
        names = form.param_names
        member_thetas = [fit_theta(member, how, ln_x, ln_y) for member, how in zip(members, losses)]
        resamples = hierarchical_resamples(
            size_index, self.n_bootstrap, rng,
            min_distinct_sizes=max(member.n_coefficients for member in members),
        )
        member_replicates = [
            bootstrap_thetas(member, how, ln_x, ln_y, resamples.counts, theta)
            for member, how, theta in zip(members, losses, member_thetas)
        ]
        if rolling is None and self.n_bootstrap > 0:
            # Origins from k sizes: the richest forms get two origins, not one, from 7 sizes.
            rolling = rolling_errors(
                form, losses[0], ln_x, ln_y, size_index, ln_sizes, form.n_coefficients
            )
        # One form predicts alone; a blend averages its members' ln y (replicate b with replicate b).
        predictor = form.model if len(members) == 1 else Blend(
            members, tuple(self.selection_.weights.values()))  # type: ignore[union-attr]
        theta = np.concatenate(member_thetas)
        thetas = np.concatenate(member_replicates, axis=1)

        residual = ln_y - predictor.log_predict_many(theta[None], ln_x)[0]
        self.form_ = form.name
        self.params_ = dict(zip(names, (float(v) for v in form.model.to_params(member_thetas[0]))))
        self.exponent_ = self.params_["alpha"]
        self.r2_ = float(1.0 - residual @ residual / np.sum((ln_y - ln_y.mean()) ** 2))
        self.bootstrap_params_ = form.model.to_params(member_replicates[0])
        self.sizes_ = sizes
        self.n_sizes_ = int(sizes.size)
        self.n_seeds_ = n_seeds
        self.size_noise_std_, self.seed_noise_std_ = noise_levels(
            residual, size_index, n_seeds, n_params=len(names)
        )
        self.backtest_rmse_ = rolling.rmse if rolling is not None else float("nan")
        self.drift_ = drift(rolling)
        self.x_ = x_values
        self.y_ = y_values
        self.problems_ = degeneracies(form, member_thetas[0], ln_x, ln_y, size_index, ln_sizes, self.r2_)
        for problem in self.problems_:
            warnings.warn(f"{self.form_} fit: {problem}", DegenerateFitWarning, stacklevel=2)
        self._model = predictor
        self._theta = theta
        self._bootstrap_thetas = thetas
        self._bootstrap_size_draws = resamples.size_draws
        # Standard normal draws, one per replicate, that turn curve replicates into predictive
        # replicates in `predict_interval`; drawn here so that method is deterministic.
        self._noise_draws = rng.standard_normal(self.n_bootstrap)
        return self

    @property
    def n_coefficients(self) -> int:
        """Fewest distinct sizes a fit needs: the form's parameter count (2 for "auto")."""
        return FORMS[self.form].n_coefficients if self.form in FORMS else 2

    # --------------------------------------------------------------- prediction

    def predict(self, x: ArrayLike | None = None, *, n_params: ArrayLike | None = None) -> np.ndarray:
        """Predict y at x.

        Args:
            x: Scale(s) (N non-embedding parameters for a sweep), scalar or 1-D.
            n_params: Alias of `x`.

        Returns:
            Predictions with the shape of `x` (a numpy scalar for a scalar).
        """
        self._check_fitted()
        x_values = _validate.positive_finite(self.x_name, _one_of(x, n_params), allow_scalar=True)
        ln_x = np.log(x_values).reshape(1, -1)
        prediction = np.exp(self._model.log_predict_many(self._theta[None], ln_x)[0])
        return prediction.reshape(x_values.shape)[()]

    def predict_replicates(
        self, x: ArrayLike | None = None, *, n_params: ArrayLike | None = None
    ) -> np.ndarray:
        """Predict y at x under every bootstrap replicate of the fit (no run-to-run noise).

        Args:
            x: Scale(s) (N non-embedding parameters for a sweep), scalar or 1-D.
            n_params: Alias of `x`.

        Returns:
            (B, *shape of x) predictions.
        """
        self._check_bootstrapped("predict_replicates")
        x_values = _validate.positive_finite(self.x_name, _one_of(x, n_params), allow_scalar=True)
        ln_x = np.log(x_values).reshape(1, -1)
        log_predictions = self._model.log_predict_many(self._bootstrap_thetas, ln_x)
        return np.exp(log_predictions).reshape(-1, *x_values.shape)

    def predict_interval(
        self,
        x: ArrayLike | None = None,
        level: float = 0.95,
        *,
        n_seeds: int | None = 1,
        n_params: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval for what a run (or a mean over seeds) at x will give, extrapolation included.

        Each bootstrap replicate's prediction is perturbed, in ln y, by a normal draw with
        variance size_noise_std_² + seed_noise_std_² / n_seeds + (drift_ · d)², where d is how
        far x lies outside the fitted sizes in ln x (0 inside). The last term is the error of
        extrapolating, which the bootstrap alone misses when the form is not quite the truth:
        `drift_` is measured by a rolling-origin backtest of the fit (fit on the smaller sizes,
        predict the larger), so the interval widens with distance as fast as this curve's own
        extrapolations went wrong. The interval is the percentiles of the result.

        Args:
            x: Scale(s) (N non-embedding parameters for a sweep), scalar or 1-D.
            level: Coverage, e.g. 0.95 for the [2.5, 97.5] percentiles.
            n_seeds: The interval is for the geometric mean of y over this many seeds of one new
                size (1: a single run). None: the interval of the fitted curve itself, without
                run-to-run noise or extrapolation error.
            n_params: Alias of `x`.

        Returns:
            (lo, hi), each with the shape of `x`.

        Raises:
            NotFittedError: When the law is unfitted or was fitted with ``n_bootstrap=0``.
        """
        level = _validate.level(level)
        self._check_fitted()
        if self.bootstrap_params_.shape[0] == 0:
            raise NotFittedError(
                f"predict_interval needs bootstrap replicates, but this {type(self).__name__} "
                "was fitted with n_bootstrap=0: set n_bootstrap > 0 (e.g. "
                f"{type(self).__name__}(form={self.form!r}, n_bootstrap=1000)) and fit again"
            )
        x = _one_of(x, n_params)
        replicates = np.log(self.predict_replicates(x))
        if n_seeds is not None:
            if int(n_seeds) < 1:
                raise ValueError(f"n_seeds: must be a positive integer or None, got {n_seeds!r}")
            std = run_std(np.log(np.asarray(x, dtype=np.float64)), int(n_seeds), sizes=self.sizes_,
                          size_noise_std=self.size_noise_std_, seed_noise_std=self.seed_noise_std_,
                          drift_per_ln_x=self.drift_)
            noise = self._noise_draws.reshape(-1, *([1] * (replicates.ndim - 1))) * std
            replicates = replicates + noise
        lo, hi = percentile_interval(replicates, level)
        return np.exp(lo)[()], np.exp(hi)[()]



def _settings(form_name: str, loss: str, n_bootstrap: int) -> tuple[LawForm | None, FitLoss | None]:
    """The form (None for "auto") and the loss (None: the chosen form's default)."""
    if form_name != "auto" and form_name not in FORMS:
        raise ValueError(f"form: must be one of {', '.join(map(repr, [*FORMS, 'auto']))}, got {form_name!r}")
    if loss not in ("auto", "squared", "huber"):
        raise ValueError(f"loss: must be 'auto', 'squared' or 'huber', got {loss!r}")
    _validate.n_bootstrap(n_bootstrap)
    form = FORMS.get(form_name)
    if loss != "auto":
        return form, loss  # type: ignore[return-value]
    return form, None if form is None else form.default_loss


def _one_of(x: ArrayLike | None, n_params: ArrayLike | None) -> ArrayLike:
    """The scale argument, given as `x` or under its sweep name `n_params` (not both)."""
    if n_params is None:
        if x is None:
            raise TypeError("x: missing (the scale of each row; `n_params=` for a sweep's N)")
        return x
    if x is not None:
        raise TypeError("x and n_params: give one of them (n_params is x's name for N)")
    return n_params
