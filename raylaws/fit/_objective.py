"""Scaling laws as sums of power terms, fitted in log space with analytic gradients.

Every law here has the shape

    y = E + sum_j A_j * x_j ** (-alpha_j)

(power: no E, one term; saturating: E plus one term in N; Chinchilla: E plus a term in N and one
in D). Following Hoffmann et al. (2022) and Epoch AI's replication (Besiroglu et al. 2024), it is
fitted on log residuals with the log-sum-exp parametrisation

    ln y_hat = LSE(e, a_1 - alpha_1 ln x_1, ..., a_J - alpha_J ln x_J),  E = exp(e), A_j = exp(a_j),

so that E >= 0 and every A_j > 0 hold by construction. The vector `theta` holds
(e, a_1..a_J, alpha_1..alpha_J), e only when the law has E: the same order as the laws'
`params_`, in log space for the coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize

from raylaws.fit._lbfgs import BatchResult, minimize_batch

Loss = Literal["squared", "huber"]

#: Huber threshold on log residuals used by Hoffmann et al. (2022) and Epoch AI (2024).
HUBER_DELTA = 1e-3

# e = ln E is bounded below by ln(min y) - _E_FLOOR_NATS, i.e. E >= 1e-11 * min(y): E >= 0 in
# effect, without letting L-BFGS wander off to e = -inf when the data want no floor.
_E_FLOOR_NATS = 25.0


@dataclass(frozen=True)
class SumOfPowers:
    """The model y = [E +] sum_j A_j x_j^(-alpha_j), evaluated in log space.

    Attributes:
        has_floor: Whether the law has the irreducible term E.
        n_terms: Number of power terms J (one per input variable).
    """

    has_floor: bool
    n_terms: int

    @property
    def n_coefficients(self) -> int:
        """Number of free parameters k."""
        return int(self.has_floor) + 2 * self.n_terms

    def log_predict_with_shares(
        self, thetas: np.ndarray, ln_x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ln y_hat for many parameter vectors, and each term's share of y_hat.

        The shares are the softmax weights of the log-sum-exp, i.e. d ln y_hat / d(term), from
        which the gradient follows (d term / d e = 1, / d a_j = 1, / d alpha_j = -ln x_j).

        Args:
            thetas: (B, k) parameters.
            ln_x: (J, n) log inputs.

        Returns:
            (B, n) predictions of ln y and (B, J [+1 with E, first], n) shares.
        """
        n_floor = int(self.has_floor)
        a = thetas[:, n_floor : n_floor + self.n_terms, None]  # (B, J, 1)
        alpha = thetas[:, n_floor + self.n_terms :, None]
        terms = a - alpha * ln_x[None]  # (B, J, n)
        if not self.has_floor and self.n_terms == 1:
            return terms[:, 0], np.ones_like(terms)
        if self.has_floor:
            floor = np.broadcast_to(thetas[:, :1, None], (thetas.shape[0], 1, ln_x.shape[1]))
            terms = np.concatenate([floor, terms], axis=1)
        top = terms.max(axis=1)
        shares = np.exp(terms - top[:, None])
        total = shares.sum(axis=1)
        shares /= total[:, None]
        return top + np.log(total), shares

    def log_predict_many(self, thetas: np.ndarray, ln_x: np.ndarray) -> np.ndarray:
        """Return (B, n) predictions of ln y for (B, k) parameters at (J, n) log inputs."""
        return self.log_predict_with_shares(thetas, ln_x)[0]

    def log_predict_and_jacobian(
        self, thetas: np.ndarray, ln_x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (B, n) predictions of ln y and their (B, k, n) derivatives by theta."""
        log_prediction, shares = self.log_predict_with_shares(thetas, ln_x)
        n_floor = int(self.has_floor)
        term_shares = shares[:, n_floor:]  # (B, J, n)
        parts = [term_shares, -term_shares * ln_x[None]]
        if n_floor:
            parts.insert(0, shares[:, :1])
        return log_prediction, np.concatenate(parts, axis=1)

    def lower_bounds(self, ln_y: np.ndarray) -> np.ndarray:
        """(k,) lower bounds: only e = ln E has one, which keeps E >= 0 meaningful."""
        bounds = np.full(self.n_coefficients, -np.inf)
        if self.has_floor:
            bounds[0] = float(ln_y.min()) - _E_FLOOR_NATS
        return bounds

    def to_params(self, theta: np.ndarray) -> np.ndarray:
        """Map theta (..., k) to the public parameters: exp of E and A_j, exponents as they are."""
        params = np.array(theta, dtype=np.float64, copy=True)
        n_log = int(self.has_floor) + self.n_terms
        params[..., :n_log] = np.exp(params[..., :n_log])
        return params

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        """Inverse of `to_params`."""
        theta = np.array(params, dtype=np.float64, copy=True)
        n_log = int(self.has_floor) + self.n_terms
        theta[..., :n_log] = np.log(theta[..., :n_log])
        return theta


def loss_and_derivative(residual: np.ndarray, loss: Loss) -> tuple[np.ndarray, np.ndarray]:
    """Per-point loss rho(r) and its derivative psi(r) on log residuals r.

    The Huber loss is divided by its delta (1e-3), which does not move the optimum but keeps the
    objective and its gradient of order one, so L-BFGS's tolerances mean the same for both losses.
    """
    if loss == "squared":
        return 0.5 * residual**2, residual
    magnitude = np.abs(residual)
    small = magnitude <= HUBER_DELTA
    rho = np.where(small, 0.5 * residual**2 / HUBER_DELTA, magnitude - 0.5 * HUBER_DELTA)
    psi = np.where(small, residual / HUBER_DELTA, np.sign(residual))
    return rho, psi


class LogSpaceObjective:
    """Weighted mean loss of ln y_hat - ln y, with gradient, for a batch of problems.

    Problem b is the data weighted by `weights[b]` (ones for the data itself, bootstrap counts
    for a resample); its value is sum_i w_bi rho(r_i) / sum_i w_bi. Called as a
    `_lbfgs.BatchObjective`: `objective(thetas, rows)` evaluates problems `rows` at `thetas`.

    Args:
        model: The law's shape.
        ln_x: (J, n) log inputs.
        ln_y: (n,) log targets.
        weights: (B, n) non-negative weights, one row per problem; a single row (1, n) is
            shared by every problem (multi-start fits of one dataset).
        loss: "squared" or "huber" (delta 1e-3).
    """

    def __init__(
        self,
        model: SumOfPowers,
        ln_x: np.ndarray,
        ln_y: np.ndarray,
        weights: np.ndarray,
        loss: Loss,
    ) -> None:
        self.model = model
        self.ln_x = ln_x
        self.ln_y = ln_y
        self.weights = weights / weights.sum(axis=1, keepdims=True)
        self.loss = loss

    def __call__(self, thetas: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_prediction, jacobian = self.model.log_predict_and_jacobian(thetas, self.ln_x)
        rho, psi = loss_and_derivative(log_prediction - self.ln_y, self.loss)
        weights = self.weights[0][None] if self.weights.shape[0] == 1 else self.weights[rows]
        values = np.einsum("bn,bn->b", weights, rho)
        weighted_psi = weights * psi  # (b, n): d value / d ln y_hat
        return values, np.einsum("bn,bkn->bk", weighted_psi, jacobian)

    def lower_bounds(self) -> np.ndarray:
        """(k,) lower bounds of theta (-inf where there is none); see the model's."""
        return self.model.lower_bounds(self.ln_y)


def minimize(
    objective: LogSpaceObjective, thetas0: np.ndarray, *, gtol: float = 1e-9, max_iter: int = 1000
) -> BatchResult:
    """Run batched L-BFGS on every problem of `objective` from `thetas0` (B, k).

    Each problem runs until its largest projected-gradient component is <= 1e-9 (the objective
    is scaled to be of order one) or no step along the L-BFGS direction lowers it any more; no
    relative-decrease test, which on this nearly piecewise-linear Huber objective stops early
    after a short step, or until `max_iter` iterations. With the defaults the optima are at least
    as low as scipy L-BFGS-B's with ftol 1e-14.
    """
    return minimize_batch(
        objective, thetas0, lower=objective.lower_bounds(), ftol=0.0, gtol=gtol, max_iter=max_iter
    )


def fit_from_grid(
    model: SumOfPowers,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    loss: Loss,
    exponent_grid: np.ndarray,
    n_starts: int,
) -> np.ndarray:
    """Fit by multi-start L-BFGS, screening a grid of exponents for good starting points.

    The objective has several local optima (see shared/data/README.md), so one start is not
    enough; but running L-BFGS from every point of a full 5-D grid is slow. For a fixed set of
    exponents the law is linear in (E, A_j), so each grid point's best coefficients come from a
    non-negative least-squares solve on y; the `n_starts` grid points with the lowest log-space
    objective then seed L-BFGS over all parameters (all at once), and the best optimum wins.

    Args:
        model: The law's shape.
        ln_x: (J, n) log inputs.
        ln_y: (n,) log targets.
        loss: Loss on log residuals.
        exponent_grid: (G, J) candidate exponents (alpha_1..alpha_J).
        n_starts: How many screened grid points to start L-BFGS from.

    Returns:
        The best theta found.
    """
    y = np.exp(ln_y)
    objective = LogSpaceObjective(model, ln_x, ln_y, np.ones((1, ln_y.size)), loss)
    candidates = np.array([_linear_start(model, ln_x, y, exponents) for exponents in exponent_grid])
    screened, _ = objective(candidates, np.arange(len(candidates)))
    starts = candidates[np.argsort(screened, kind="stable")[:n_starts]]
    result = minimize(objective, starts)
    return result.x[np.argmin(result.fun)]


def _linear_start(
    model: SumOfPowers, ln_x: np.ndarray, y: np.ndarray, exponents: np.ndarray
) -> np.ndarray:
    """Best non-negative (E, A_j) for fixed exponents, by NNLS on y, as a theta."""
    columns = [np.exp(-exponent * row) for exponent, row in zip(exponents, ln_x)]
    if model.has_floor:
        columns.insert(0, np.ones_like(y))
    basis = np.stack(columns, axis=1)
    scale = np.linalg.norm(basis, axis=0)
    coefficients, _ = optimize.nnls(basis / scale, y)
    coefficients = coefficients / scale
    # A zero coefficient has no log; floor it so its term is negligible (1e-6 of the data) but
    # L-BFGS can still grow it.
    floor = 1e-6 * np.median(y) / np.median(basis, axis=0)
    coefficients = np.maximum(coefficients, floor)
    theta = np.concatenate([np.log(coefficients), exponents])
    if model.has_floor:
        theta[0] = max(theta[0], float(np.log(y.min())) - _E_FLOOR_NATS)
    return theta


def fit_resamples(
    model: SumOfPowers,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    loss: Loss,
    counts: np.ndarray,
    theta0: np.ndarray,
    *,
    gtol: float = 1e-9,
    max_iter: int = 1000,
) -> np.ndarray:
    """Refit every bootstrap resample by L-BFGS warm-started from the full-data optimum.

    All resamples are solved together by batched L-BFGS (`_lbfgs.minimize_batch`); a weighted
    fit with the resample's counts as weights is the fit on the resampled rows.

    Args:
        model: The law's shape.
        ln_x: (J, n) log inputs of the full data.
        ln_y: (n,) log targets of the full data.
        loss: Loss on log residuals.
        counts: (B, n) how many times each point appears in each resample.
        theta0: The full-data optimum.
        gtol: Projected-gradient tolerance (see `minimize`).
        max_iter: Iteration limit per resample.

    Returns:
        (B, k) thetas.
    """
    if counts.shape[0] == 0:
        return np.empty((0, theta0.size))
    objective = LogSpaceObjective(model, ln_x, ln_y, counts, loss)
    thetas0 = np.tile(theta0, (counts.shape[0], 1))
    return minimize(objective, thetas0, gtol=gtol, max_iter=max_iter).x
