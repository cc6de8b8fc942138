"""Rolling-origin backtests of a form on one curve, and `form="auto"`'s blend of forms.

A rolling-origin backtest fits the law on the m smallest sizes and scores its predictions of
every larger size, for each origin m in turn: the question a scaling law is asked (how well does
it extrapolate?), rather than how well it fits the sizes it has seen. Errors are in ln y, scored
against the geometric mean of each size's seeds (what the log-space fit models). Pure functions
over arrays: no estimator here.

`form="auto"` averages, in ln y and with equal weights, every form whose backtest RMSE is within
`BLEND_MARGIN` of the best one's, rather than keeping the single winner. On a curve of 7-10
sizes the backtest has 3-6 errors: it tells a form that is wrong from one that is right (power
on a curve with a floor: 10x the error), but not which of two forms that both fit is right, and
picking the winner of such a coin toss extrapolated 1.3-1.5x worse than the better of the two.
Averaging the close ones costs a little when one of them is right and gains where their errors
lie on both sides of the truth (benchmarks/extrapolation.py, benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raylaws.fit._forms import FORMS, FitLoss, LawForm, fit_theta

#: A form competes in `form="auto"` only with at least this many backtest origins.
MIN_ORIGINS = 2
#: Forms whose backtest RMSE is within this share of the best one's are averaged by `form="auto"`.
BLEND_MARGIN = 0.4
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
        form: The form that backtested best (its parameters are the law's `params_`).
        runner_up: The best of the others (None when only one form could be backtested).
        scores: Rolling-origin backtest RMSE of ln y by candidate form, on common origins.
        n_origins: Number of origins every candidate was backtested on (0: none could be, and
            `form` is the fallback ``"power"``).
        reason: One sentence on what was averaged and what was left out, and why (or why
            nothing was compared).
        weights: The forms averaged, in ln y, with their weights (summing to 1), best first;
            ``{form: 1.0}`` when no other form backtested within `BLEND_MARGIN` of it.
    """

    form: str
    runner_up: str | None
    scores: dict[str, float] = field(default_factory=dict)
    n_origins: int = 0
    reason: str = ""
    weights: dict[str, float] = field(default_factory=dict)


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


def backtest_plan(n_sizes: int) -> tuple[list[LawForm], int]:
    """The forms `form="auto"` backtests on a curve of `n_sizes` sizes (those with at least
    `MIN_ORIGINS` origins, in order of increasing parameter count) and the first origin they
    share: the richest one's first, or the `MAX_ORIGINS` latest. No form: origin 0."""
    candidates = [
        FORMS[name]
        for name in AUTO_CANDIDATES
        if n_sizes >= FORMS[name].n_coefficients + 1 + MIN_ORIGINS
    ]
    if not candidates:
        return [], 0
    return candidates, max(max(form.n_coefficients for form in candidates) + 1, n_sizes - MAX_ORIGINS)


def select_form(
    loss: str,
    ln_x: np.ndarray,
    ln_y: np.ndarray,
    size_index: np.ndarray,
    ln_sizes: np.ndarray,
) -> tuple[FormSelection, dict[str, RollingErrors]]:
    """Weigh the forms by a rolling-origin backtest on common origins: `form="auto"`'s blend.

    Candidates are the forms with at least `MIN_ORIGINS` origins (M >= k + 1 + MIN_ORIGINS
    sizes); all are scored on the origins the richest candidate allows (at most the
    `MAX_ORIGINS` latest), so they predict the same sizes from the same data. Every form whose
    RMSE is within `BLEND_MARGIN` of the lowest gets an equal weight.

    Args:
        loss: ``"auto"`` (each form's default) or the loss for every form.
        ln_x, ln_y, size_index, ln_sizes: As for `rolling_errors`.

    Returns:
        The selection, and each candidate's backtest errors plus, under ``"auto"``, those of
        the weighted average of the candidates' predictions (the blend's own backtest).
    """
    n_sizes = ln_sizes.size
    candidates, first_origin = backtest_plan(n_sizes)
    if not candidates:
        reason = (
            f"only {n_sizes} sizes: a backtest needs at least "
            f"{FORMS['power'].n_coefficients + 1 + MIN_ORIGINS}; fell back to 'power', untested"
        )
        return FormSelection("power", None, {}, 0, reason, {"power": 1.0}), {}
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
    if not finite:
        reason = "no form's backtest could be scored (every prediction was non-finite); fell back to 'power'"
        return FormSelection("power", None, scores, 0, reason, {"power": 1.0}), results
    best = min(finite, key=lambda name: (finite[name], FORMS[name].n_coefficients))
    blended = sorted((name for name in finite if finite[name] <= finite[best] * (1.0 + BLEND_MARGIN)),
                     key=lambda name: (finite[name], FORMS[name].n_coefficients))
    weights = {name: 1.0 / len(blended) for name in blended}
    results["auto"] = RollingErrors(
        sum(weight * results[name].errors for name, weight in weights.items()),
        results[best].distances, results[best].n_origins,
    )
    n_origins = n_sizes - first_origin
    others = {name: score for name, score in finite.items() if name != best}
    runner_up = min(others, key=others.__getitem__) if others else None
    return FormSelection(best, runner_up, scores, n_origins, _reason(finite, blended, n_origins), weights), results


def _reason(scores: dict[str, float], blended: list[str], n_origins: int) -> str:
    """One sentence: which forms were averaged and which left out, with their backtest RMSE."""
    def listed(names: list[str]) -> str:
        return ", ".join(f"{name!r} {scores[name]:.4g}" for name in names)

    left_out = sorted((name for name in scores if name not in blended), key=scores.__getitem__)
    kept = (f"averaged {listed(blended)}" if len(blended) > 1 else f"{listed(blended)} alone")
    reason = (f"{kept} (RMSE of ln y over {n_origins} origin(s), fit on the smaller sizes and "
              f"scored on the larger; forms within {BLEND_MARGIN:.0%} of the best are averaged)")
    if left_out:
        reason += f"; left out {listed(left_out)}"
    return reason
