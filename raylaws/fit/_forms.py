"""The one-variable law forms y(x) that `PowerLaw` fits, and how each is fitted to log data.

x is the scale (N non-embedding parameters for a raylaws sweep; tokens or compute for other
curves), y the loss or error (lower is better). Pure functions over arrays: no estimator here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import numpy as np

from raylaws.fit._objective import (
    LogSpaceObjective,
    SumOfPowers,
    fit_from_grid,
    minimize,
)
from raylaws.fit._sigmoid import PlateauLaw

FitLoss = Literal["squared", "huber"]
Model = Union[SumOfPowers, PlateauLaw]

# Exponents screened for starting points of the saturating fit (see `fit_from_grid`).
_ALPHA_GRID = np.linspace(0.02, 2.0, 100)[:, None]
_N_STARTS = 4


@dataclass(frozen=True)
class LawForm:
    """A law's shape, parameter names and default loss.

    Attributes:
        name: The `form` argument that selects it.
        model: The log-space model (predictions, Jacobian, bounds, theta <-> params).
        param_names: Public parameter names, in theta's order.
        default_loss: The loss `loss="auto"` means for this form.
        formula: The law, for messages and tables.
    """

    name: str
    model: Model
    param_names: tuple[str, ...]
    default_loss: FitLoss
    formula: str

    @property
    def n_coefficients(self) -> int:
        """Number of free parameters k; a fit needs at least k distinct x."""
        return len(self.param_names)


FORMS: dict[str, LawForm] = {
    form.name: form
    for form in (
        LawForm("power", SumOfPowers(has_floor=False, n_terms=1), ("A", "alpha"), "squared",
                "A*x^-alpha"),
        LawForm("saturating", SumOfPowers(has_floor=True, n_terms=1), ("E", "A", "alpha"),
                "huber", "E + A*x^-alpha"),
        LawForm("sigmoid", PlateauLaw(gamma=1.0), PlateauLaw(gamma=1.0).param_names, "huber",
                "E + (L0-E)/(1 + x^alpha/A)"),
        LawForm("m4", PlateauLaw(), PlateauLaw().param_names, "huber",
                "(y-E)/(L0-y)^gamma = A*x^-alpha"),
    )
}


def fit_theta(form: LawForm, loss: FitLoss, ln_x: np.ndarray, ln_y: np.ndarray) -> np.ndarray:
    """Best theta of `form` for (1, n) log inputs and (n,) log targets.

    power: least squares in log-log space (closed form), refined by L-BFGS under Huber;
    saturating: screened grid of exponents then L-BFGS (`fit_from_grid`); sigmoid and m4:
    screened (E, L0, gamma) grid then L-BFGS (`PlateauLaw.fit`).
    """
    model = form.model
    if isinstance(model, PlateauLaw):
        return model.fit(ln_x, ln_y, loss)
    if model.has_floor:
        return fit_from_grid(model, ln_x, ln_y, loss, _ALPHA_GRID, _N_STARTS)
    theta = least_squares_lines(ln_x[0], ln_y, np.ones((1, ln_y.size)))[0]
    if loss == "huber":
        objective = LogSpaceObjective(model, ln_x, ln_y, np.ones((1, ln_y.size)), loss)
        theta = minimize(objective, theta[None]).x[0]
    return theta


def least_squares_lines(ln_n: np.ndarray, ln_y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares fits of ln y = a - alpha ln x, one per row of `weights`, at once.

    Args:
        ln_n: (n,) ln x.
        ln_y: (n,) ln y.
        weights: (B, n) non-negative weights (bootstrap counts, or ones for the plain fit); each
            row must put weight on at least two distinct x.

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
