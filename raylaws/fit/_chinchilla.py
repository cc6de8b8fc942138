"""`ChinchillaLaw`: loss against model size N and training tokens D (Hoffmann et al. 2022)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from raylaws.fit import _validate
from raylaws.fit._base import BaseLaw
from raylaws.fit._bootstrap import hierarchical_resamples
from raylaws.fit._objective import SumOfPowers, fit_from_grid, fit_resamples

_MODEL = SumOfPowers(has_floor=True, n_terms=2)
_PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
# (alpha, beta) pairs screened for starting points (see `fit_from_grid`): 0.05..1.0 each.
_EXPONENT_GRID = np.stack(
    np.meshgrid(np.linspace(0.05, 1.0, 20), np.linspace(0.05, 1.0, 20), indexing="ij"), axis=-1
).reshape(-1, 2)
_N_STARTS = 10


class ChinchillaLaw(BaseLaw):
    """L(N, D) = E + A / N^alpha + B / D^beta, fitted as Hoffmann et al. (2022) and Epoch AI do.

    Huber loss (delta 1e-3) on log residuals, log-sum-exp parametrisation (E, A, B > 0), L-BFGS
    with analytic gradients. The objective has several local optima, so starting points come from
    a 20 x 20 grid of (alpha, beta) in [0.05, 1.0]², each with its best non-negative (E, A, B) by
    linear least squares; L-BFGS runs from the 10 best and the lowest optimum wins.

    Uncertainty is a plain bootstrap over the (N, D) points (Epoch AI's): each replicate
    resamples the points with replacement and is refitted by L-BFGS warm-started from the
    full-data optimum.

    Args:
        n_bootstrap: Number of bootstrap replicates B; 0 skips them (interval methods then raise
            `NotFittedError`). About 20 ms per replicate on Chinchilla's 240 points, one core.
        random_state: Seed or `numpy.random.Generator` for the bootstrap.

    Attributes:
        params_: ``{"E", "A", "B", "alpha", "beta"}``: loss in nats, N in parameters, D in tokens.
        r2_: R² of ln(loss) over the points.
        bootstrap_params_: (B, 5) replicate parameters in `params_` order; (0, 5) when
            ``n_bootstrap=0``.
        n_points_: Number of (N, D) points fitted.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> n = 10 ** rng.uniform(7, 10, 60)
        >>> d = 10 ** rng.uniform(9, 11, 60)
        >>> loss = 1.8 + 480 / n**0.35 + 2100 / d**0.37
        >>> law = ChinchillaLaw(n_bootstrap=0).fit(n, d, loss)
        >>> round(law.params_["alpha"], 2), round(law.params_["beta"], 2)
        (0.35, 0.37)
    """

    def __init__(
        self,
        *,
        n_bootstrap: int = 1000,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def fit(self, n_params: ArrayLike, n_tokens: ArrayLike, loss: ArrayLike) -> ChinchillaLaw:
        """Fit the law to one row per training run.

        Args:
            n_params: (n,) model size N of each run, in parameters.
            n_tokens: (n,) training tokens D of each run (C / (6 N) when only compute C is known).
            loss: (n,) final loss of each run.

        Returns:
            self, fitted.

        Raises:
            ValueError: On a bad `n_bootstrap`, non-positive or non-finite inputs, mismatched
                lengths, or fewer points than the 5 parameters; raised before any fitting.
        """
        _validate.n_bootstrap(self.n_bootstrap)
        n_values = _validate.positive_finite("n_params", n_params)
        d_values = _validate.positive_finite("n_tokens", n_tokens)
        loss_values = _validate.positive_finite("loss", loss)
        _validate.same_length(n_params=n_values, n_tokens=d_values, loss=loss_values)
        n_points = n_values.size
        _validate.enough_sizes("n_params", n_points, len(_PARAM_NAMES), "ChinchillaLaw")

        ln_x = np.log(np.stack([n_values, d_values]))
        ln_y = np.log(loss_values)
        rng = np.random.default_rng(self.random_state)
        theta = fit_from_grid(_MODEL, ln_x, ln_y, "huber", _EXPONENT_GRID, _N_STARTS)
        # Every point is its own "size" with one seed: the hierarchical bootstrap reduces to
        # the plain bootstrap over points.
        resamples = hierarchical_resamples(
            np.arange(n_points), self.n_bootstrap, rng, min_distinct_sizes=len(_PARAM_NAMES)
        )
        thetas = fit_resamples(_MODEL, ln_x, ln_y, "huber", resamples.counts, theta)

        residual = ln_y - _MODEL.log_predict_many(theta[None], ln_x)[0]
        self.params_ = dict(zip(_PARAM_NAMES, (float(v) for v in _MODEL.to_params(theta))))
        self.r2_ = float(1.0 - residual @ residual / np.sum((ln_y - ln_y.mean()) ** 2))
        self.bootstrap_params_ = _MODEL.to_params(thetas)
        self.n_points_ = n_points
        self._theta = theta
        return self

    def predict(self, n_params: ArrayLike, n_tokens: ArrayLike) -> np.ndarray:
        """Predict the loss of a model of N parameters trained on D tokens.

        Args:
            n_params: Model size(s) N, scalar or 1-D.
            n_tokens: Training tokens D, broadcastable against `n_params`.

        Returns:
            Predicted loss, with the broadcast shape (a numpy scalar for scalars).
        """
        self._check_fitted()
        n_values = _validate.positive_finite("n_params", n_params, allow_scalar=True)
        d_values = _validate.positive_finite("n_tokens", n_tokens, allow_scalar=True)
        n_values, d_values = np.broadcast_arrays(n_values, d_values)
        ln_x = np.log(np.stack([n_values.reshape(-1), d_values.reshape(-1)]))
        prediction = np.exp(_MODEL.log_predict_many(self._theta[None], ln_x)[0])
        return prediction.reshape(n_values.shape)[()]

    def compute_optimal(self, flops: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Compute-optimal size and tokens for a training budget, with C = 6 N D.

        Minimising E + A/N^alpha + B/D^beta subject to 6 N D = C gives
        N* = G (C/6)^(beta/(alpha+beta)) and D* = (C/6) / N*, with
        G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, Appendix D.2).

        Args:
            flops: Training compute C in FLOPs, scalar or 1-D.

        Returns:
            (N*, D*) in parameters and tokens, each with the shape of `flops`.
        """
        self._check_fitted()
        compute = _validate.positive_finite("flops", flops, allow_scalar=True)
        p = self.params_
        exponent_sum = p["alpha"] + p["beta"]
        scale = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / exponent_sum)
        n_opt = scale * (compute / 6.0) ** (p["beta"] / exponent_sum)
        return n_opt[()], (compute / 6.0 / n_opt)[()]
