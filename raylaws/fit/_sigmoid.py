"""Laws with an initial plateau as well as a floor: M4 and its sigmoid member, in log space.

Alabdulmohsin, Neyshabur & Zhai (2022), "Revisiting Neural Scaling Laws in Language and Vision",
estimator M4:

    (y - E) / (L0 - y) ** gamma = A * x ** (-alpha),     E < y < L0,

(the paper's L_inf, L_0, beta, c, alpha are E, L0, A, alpha, gamma here, so that `alpha` is the
exponent of x in every raylaws form). y starts near L0 (the loss of an untrained model, or chance
error) for small x, falls as a power of x in the middle, and levels off at E. gamma = 1 is a
logistic curve in ln x, y = E + (L0 - E) / (1 + x^alpha / A), the "sigmoid" form; gamma -> 0 or
L0 -> infinity gives the saturating law E + A' x^(-alpha).

y is implicit in x. Writing y = E + D s with D = L0 - E and s in (0, 1), and t = logit(s), the law
is the scalar equation

    h(t) = ln s - gamma ln(1 - s) - K = 0,   K = a - alpha ln x + (gamma - 1) ln D,   a = ln A,

which is strictly increasing in t (h' = 1 - s + gamma s > 0) and convex or concave, so Newton's
method converges from any start; the gradient of ln y follows by implicit differentiation.

`theta` is (e, d, a, alpha[, gamma]): e = ln E, d = ln(L0 - E), a = ln A, so E > 0 and L0 > E by
construction; alpha >= 0 and gamma >= 0 are bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from raylaws.fit._lbfgs import minimize_batch
from raylaws.fit._objective import _E_FLOOR_NATS, LogSpaceObjective, Loss

_NEWTON_STEPS = 60
_NEWTON_TOL = 1e-11
_GAMMA_MIN = 1e-3  # below this the law is the saturating one and t runs off to +infinity


@dataclass(frozen=True)
class PlateauLaw:
    """The M4 law, with gamma free or fixed (1: the sigmoid form).

    Attributes:
        gamma: None to fit gamma (M4, 5 parameters), or its fixed value (4 parameters).
    """

    gamma: float | None = None

    @property
    def n_coefficients(self) -> int:
        """Number of free parameters k."""
        return 4 if self.gamma is not None else 5

    @property
    def param_names(self) -> tuple[str, ...]:
        """Public names of the parameters, in theta's order."""
        return ("E", "L0", "A", "alpha") + (("gamma",) if self.gamma is None else ())

    def _split(self, thetas: np.ndarray) -> tuple[np.ndarray, ...]:
        e, d, a, alpha = (thetas[:, i, None] for i in range(4))  # each (B, 1)
        gamma = thetas[:, 4, None] if self.gamma is None else np.full_like(e, self.gamma)
        return e, d, a, alpha, gamma

    def log_predict_and_jacobian(
        self, thetas: np.ndarray, ln_x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (B, n) predictions of ln y and their (B, k, n) derivatives by theta.

        Args:
            thetas: (B, k) parameters.
            ln_x: (1, n) log inputs.
        """
        e, d, a, alpha, gamma = self._split(thetas)
        k = a - alpha * ln_x + (gamma - 1.0) * d  # (B, n)
        t = _solve(k, gamma)
        ln_s = -np.logaddexp(0.0, -t)
        one_minus_s = expit(-t)
        log_prediction = np.logaddexp(e, d + ln_s)
        w_floor = np.exp(e - log_prediction)  # E / y
        w_rise = np.exp(d + ln_s - log_prediction)  # D s / y
        slope = one_minus_s + gamma * (1.0 - one_minus_s)  # h'(t)
        by_t = w_rise * one_minus_s / slope  # d ln y / dK
        parts = [w_floor, w_rise + by_t * (gamma - 1.0), by_t, -by_t * ln_x]
        if self.gamma is None:
            # dt/dgamma = (d - softplus(t)) / h'(t) = ln(L0 - y) / h'(t).
            parts.append(by_t * (d - np.logaddexp(0.0, t)))
        jacobian = np.stack([np.broadcast_to(p, k.shape) for p in parts], axis=1)
        return log_prediction, jacobian

    def log_predict_many(self, thetas: np.ndarray, ln_x: np.ndarray) -> np.ndarray:
        """Return (B, n) predictions of ln y for (B, k) parameters at (1, n) log inputs."""
        e, d, a, alpha, gamma = self._split(thetas)
        t = _solve(a - alpha * ln_x + (gamma - 1.0) * d, gamma)
        return np.logaddexp(e, d - np.logaddexp(0.0, -t))

    def lower_bounds(self, ln_y: np.ndarray) -> np.ndarray:
        """(k,) lower bounds: e >= ln(min y) - 25 (E >= 0 in effect), alpha >= 0, gamma >= 0."""
        bounds = np.full(self.n_coefficients, -np.inf)
        bounds[0] = float(ln_y.min()) - _E_FLOOR_NATS
        bounds[3] = 0.0
        if self.gamma is None:
            bounds[4] = _GAMMA_MIN
        return bounds

    def to_params(self, theta: np.ndarray) -> np.ndarray:
        """Map theta (..., k) to (E, L0, A, alpha[, gamma])."""
        theta = np.asarray(theta, dtype=np.float64)
        params = theta.copy()
        params[..., 0] = np.exp(theta[..., 0])
        params[..., 1] = params[..., 0] + np.exp(np.minimum(theta[..., 1], 700.0))
        params[..., 2] = np.exp(np.minimum(theta[..., 2], 700.0))
        return params

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        """Inverse of `to_params`."""
        params = np.asarray(params, dtype=np.float64)
        theta = params.copy()
        theta[..., 0] = np.log(params[..., 0])
        theta[..., 1] = np.log(params[..., 1] - params[..., 0])
        theta[..., 2] = np.log(params[..., 2])
        return theta

    def fit(self, ln_x: np.ndarray, ln_y: np.ndarray, loss: Loss, n_starts: int = 4) -> np.ndarray:
        """Fit by multi-start L-BFGS from screened starting points; return the best theta.

        Starting points: for each (E, L0, gamma) on a small grid bracketing the data
        (E below min y, L0 above max y), the law is a line in ln x,
        ln(y - E) - gamma ln(L0 - y) = a - alpha ln x, solved by least squares for (a, alpha);
        the `n_starts` candidates with the lowest objective seed L-BFGS.

        Args:
            ln_x: (1, n) log inputs.
            ln_y: (n,) log targets.
            loss: Loss on log residuals.
            n_starts: Number of L-BFGS starts.
        """
        y = np.exp(ln_y)
        low, high = float(y.min()), float(y.max())
        floors = low * np.array([1e-4, 0.5, 0.8, 0.9, 0.97])
        ceilings = high * np.array([1.001, 1.02, 1.1, 1.5, 4.0, 30.0])
        gammas = np.array([0.3, 1.0, 3.0]) if self.gamma is None else np.array([self.gamma])
        e, c, g = (v.reshape(-1) for v in np.meshgrid(floors, ceilings, gammas, indexing="ij"))
        z = np.log(y[None] - e[:, None]) - g[:, None] * np.log(c[:, None] - y[None])  # (G, n)
        u = ln_x[0] - ln_x[0].mean()
        slope = (z - z.mean(axis=1, keepdims=True)) @ u / max(float(u @ u), 1e-300)
        alpha = np.clip(-slope, 1e-3, 5.0)
        a = (z + alpha[:, None] * ln_x[0][None]).mean(axis=1)
        columns = [np.log(e), np.log(c - e), a, alpha] + ([g] if self.gamma is None else [])
        candidates = np.stack(columns, axis=1)
        objective = LogSpaceObjective(self, ln_x, ln_y, np.ones((1, ln_y.size)), loss)  # type: ignore[arg-type]
        screened, _ = objective(candidates, np.arange(len(candidates)))
        screened = np.where(np.isfinite(screened), screened, np.inf)
        starts = candidates[np.argsort(screened, kind="stable")[:n_starts]]
        # The law is weakly identified (five parameters along one curve), so L-BFGS creeps along
        # a flat valley; stopping at a 1e-5 gradient barely moves the fitted curve.
        result = minimize_batch(
            objective, starts, lower=objective.lower_bounds(), ftol=0.0, gtol=1e-5, max_iter=300
        )
        return result.x[np.nanargmin(np.where(np.isfinite(result.fun), result.fun, np.nan))]


def _solve(k: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Solve -softplus(-t) + gamma softplus(t) = k for t, elementwise, by Newton's method.

    The left side is increasing in t with slope between min(1, gamma) and max(1, gamma), and
    convex or concave, so Newton converges from any start; the start uses its asymptotes
    (t - k for t << 0, gamma t - k for t >> 0).
    """
    gamma = np.broadcast_to(gamma, k.shape)
    t = np.where(k < 0.0, k, k / np.maximum(gamma, _GAMMA_MIN))
    for _ in range(_NEWTON_STEPS):
        h = -np.logaddexp(0.0, -t) + gamma * np.logaddexp(0.0, t) - k
        s = expit(t)
        step = h / ((1.0 - s) + gamma * s)
        t = t - step
        if float(np.max(np.abs(step))) <= _NEWTON_TOL * (1.0 + float(np.max(np.abs(t)))):
            break
    return t
