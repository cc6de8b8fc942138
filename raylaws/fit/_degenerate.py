"""When a fitted law says little about its curve: the reasons, and the warning that carries them."""

from __future__ import annotations

import math

import numpy as np

from raylaws.fit._forms import LawForm


class DegenerateFitWarning(UserWarning):
    """The fitted law says little: a flat or rising curve, a parameter at its bound, or a fit
    no better than a constant. Its predictions should not be used."""



def degeneracies(
    form: LawForm,
    theta: np.ndarray,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    size_index: np.ndarray,
    ln_sizes: np.ndarray,
    r2: float,
) -> tuple[str, ...]:
    """Reasons the fitted law says little about the curve, one sentence each (none: fine)."""
    problems = []
    n_sizes = ln_sizes.size
    size_mean = np.bincount(size_index, weights=ln_y, minlength=n_sizes) / np.bincount(
        size_index, minlength=n_sizes
    )
    slope = np.polyfit(ln_sizes, size_mean, 1)[0] if n_sizes > 1 else 0.0
    if slope >= 0.0 or size_mean[-1] >= size_mean[0]:
        problems.append(
            "y does not decrease with x (mean y goes from "
            f"{np.exp(size_mean[0]):.4g} to {np.exp(size_mean[-1]):.4g}); no decreasing law fits it"
        )
    fitted = form.model.log_predict_many(theta[None], ln_sizes[None])[0]
    if float(fitted.max() - fitted.min()) < 1e-3:
        problems.append(
            "the fitted law is flat over the data (it changes y by less than 0.1%): the "
            "x-dependent term vanished"
        )
    lower = form.model.lower_bounds(ln_y)
    at_bound = [
        name
        for name, value, bound in zip(form.param_names, theta, lower)
        if name != "E" and np.isfinite(bound) and value <= bound + 1e-6
    ]
    for name in at_bound:
        problems.append(f"parameter {name} is at its lower bound")
    alpha = float(theta[form.param_names.index("alpha")]) if "alpha" in form.param_names else math.inf
    if alpha <= 1e-3 and "alpha" not in at_bound:  # the power form's alpha has no bound: say what it is
        problems.append(f"parameter alpha is {alpha:.3g} (<= 0.001): the law barely falls with x, or rises")
    if r2 <= 0.1:
        problems.append(f"the fit is no better than a constant (R² of ln y {r2:.3f})")
    return tuple(problems)
