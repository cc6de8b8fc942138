"""Rolling-origin backtests of a form on one curve, and `form="auto"`'s choice between forms.

A rolling-origin backtest fits the law on the m smallest sizes and scores its predictions of
every larger size, for each origin m in turn: the question a scaling law is asked (how well does
it extrapolate?), rather than how well it fits the sizes it has seen. Errors are in ln y, scored
against the geometric mean of each size's seeds (what the log-space fit models). Pure functions
over arrays: no estimator here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raylaws.fit._forms import FORMS, FitLoss, LawForm, fit_theta

#: A form competes in `form="auto"` only with at least this many backtest origins.
MIN_ORIGINS = 2
#: A form with fewer parameters wins unless a richer one backtests this much better (relative).
OCCAM_MARGIN = 0.05
#: Backtests use at most this many origins, the latest (they extrapolate from the most data).
MAX_ORIGINS = 4
AUTO_CANDIDATES = ("power", "saturating", "sigmoid", "m4")


@dataclass(frozen=True)
class RollingErrors:
    """Backtest errors of one form on one curve.

    Attributes:
        errors: (P,) predicted minus observed ln y, one per (origin, later size) pair.
        distances: (P,) ln x of the predicted size minus ln x of the origin's largest size.
        n_origins: Number of origins (fits).
    """

    errors: np.ndarray
    distances: np.ndarray
    n_origins: int

    @property
    def rmse(self) -> float:
        """Root mean square of `errors` (nan when there are none)."""
        return float(np.sqrt(np.mean(self.errors**2))) if self.errors.size else float("nan")


@dataclass(frozen=True)
class FormSelection:
    """What `form="auto"` chose, and why.

    Attributes:
        form: The chosen form.
        runner_up: The best of the others (None when only one form could be backtested).
        scores: Rolling-origin backtest RMSE of ln y by candidate form, on common origins.
        n_origins: Number of origins every candidate was backtested on (0: none could be, and
            `form` is the fallback ``"power"``).
        reason: One sentence on why `runner_up` lost (or why nothing was compared).
    """

    form: str
    runner_up: str | None
    scores: dict[str, float] = field(default_factory=dict)
    n_origins: int = 0
    reason: str = ""


def rolling_errors(
    form: LawForm,
    loss: FitLoss,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    size_index: np.ndarray,
    ln_sizes: np.ndarray,
    first_origin: int,
) -> RollingErrors:
    """Fit `form` on the m smallest sizes, for m = first_origin .. M-1, and score the rest.

    Args:
        form: The law form.
        loss: Loss on log residuals.
        ln_x: (1, n) log x of each row.
        ln_y: (n,) log y of each row.
        size_index: (n,) index of each row's size in ascending order.
        ln_sizes: (M,) ln of the distinct sizes, ascending.
        first_origin: Smallest number of sizes fitted (>= the form's parameter count); at most
            the `MAX_ORIGINS` latest origins are used.
    """
    n_sizes = ln_sizes.size
    size_mean = np.bincount(size_index, weights=ln_y, minlength=n_sizes) / np.bincount(
        size_index, minlength=n_sizes
    )
    errors, distances = [], []
    origins = range(max(first_origin, form.n_coefficients, n_sizes - MAX_ORIGINS), n_sizes)
    for origin in origins:
        train = size_index < origin
        theta = fit_theta(form, loss, ln_x[:, train], ln_y[train])
        later = ln_sizes[origin:]
        predicted = form.model.log_predict_many(theta[None], later[None])[0]
        errors.append(predicted - size_mean[origin:])
        distances.append(later - ln_sizes[origin - 1])
    if not errors:
        return RollingErrors(np.empty(0), np.empty(0), 0)
    return RollingErrors(np.concatenate(errors), np.concatenate(distances), len(origins))


def select_form(
    loss: str,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    size_index: np.ndarray,
    ln_sizes: np.ndarray,
) -> tuple[FormSelection, dict[str, RollingErrors]]:
    """Pick the form that extrapolates best by a rolling-origin backtest on common origins.

    Candidates are the forms with at least `MIN_ORIGINS` origins (M >= k + 1 + MIN_ORIGINS
    sizes); all are scored on the origins the richest candidate allows (at most the
    `MAX_ORIGINS` latest), so they predict the same sizes from the same data. The lowest RMSE wins, except that a form with fewer parameters
    within `OCCAM_MARGIN` of it is preferred.

    Args:
        loss: ``"auto"`` (each form's default) or the loss for every form.
        ln_x, ln_y, size_index, ln_sizes: As for `rolling_errors`.

    Returns:
        The selection and each candidate's backtest errors.
    """
    n_sizes = ln_sizes.size
    candidates = [
        FORMS[name]
        for name in AUTO_CANDIDATES
        if n_sizes >= FORMS[name].n_coefficients + 1 + MIN_ORIGINS
    ]
    if not candidates:
        reason = (
            f"only {n_sizes} sizes: a backtest needs at least "
            f"{FORMS['power'].n_coefficients + 1 + MIN_ORIGINS}; fell back to 'power', untested"
        )
        return FormSelection("power", None, {}, 0, reason), {}
    first_origin = max(
        max(form.n_coefficients for form in candidates) + 1, n_sizes - MAX_ORIGINS
    )
    results = {
        form.name: rolling_errors(
            form,
            form.default_loss if loss == "auto" else loss,  # type: ignore[arg-type]
            ln_x, ln_y, size_index, ln_sizes, first_origin,
        )
        for form in candidates
    }
    scores = {name: result.rmse for name, result in results.items()}
    finite = {name: score for name, score in scores.items() if np.isfinite(score)}
    best = min(finite, key=finite.__getitem__)
    chosen = next(
        form.name
        for form in candidates  # in order of increasing parameter count
        if form.name in finite and finite[form.name] <= finite[best] * (1.0 + OCCAM_MARGIN)
    )
    others = {name: score for name, score in finite.items() if name != chosen}
    n_origins = n_sizes - first_origin
    if not others:
        return FormSelection(chosen, None, scores, n_origins, "no other form could be scored"), results
    runner_up = min(others, key=others.__getitem__)
    if others[runner_up] < finite[chosen]:
        reason = (
            f"{runner_up!r} backtested {finite[chosen] / others[runner_up] - 1:.1%} better "
            f"(RMSE of ln y {others[runner_up]:.4g} vs {finite[chosen]:.4g}), within the "
            f"{OCCAM_MARGIN:.0%} margin that favours the form with fewer parameters"
        )
    else:
        reason = (
            f"{runner_up!r} extrapolated worse: RMSE of ln y {others[runner_up]:.4g} vs "
            f"{finite[chosen]:.4g} over {n_origins} origin(s) (fit on the smaller sizes, "
            "scored on the larger)"
        )
    return FormSelection(chosen, runner_up, scores, n_origins, reason), results
