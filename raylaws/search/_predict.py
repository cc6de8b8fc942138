"""A size-aware search's prediction of a size's optimum from the smaller sizes' optima: lr*(N)
and bs*(N) fitted log-log linear in N (:func:`loglog_prediction`), the first box around the
prediction (:func:`first_box`), and which optima a size opens with (:func:`opening_optima`).
See :mod:`raylaws.search._size_aware`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from raylaws.ladder import Size
from raylaws.search._box import SearchBox
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import Hyperparameters

INFORMED_TRIALS = 3  # finished trials of a smaller, still searching size before it predicts a larger one
Z_95 = 1.959964  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Optimum:
    """A smaller size's best search config so far; ``final`` once its search has finished."""

    n_params: int  # the paper's N
    learning_rate: float
    batch_size: int
    final: bool
    trials: Optional[int] = None  # not final: the best of this many of the size's first trials


def loglog_prediction(n_params: Sequence[float], values: Sequence[float], target: float) -> tuple[float, float]:
    """Least-squares ln value = a + b ln N, at N = ``target``: ``(prediction, standard error
    of a new observation there, in ln units)``; the error is ``inf`` with fewer than 3 points."""
    if len(values) == 1:
        return float(values[0]), math.inf
    x, y = np.log(np.asarray(n_params, float)), np.log(np.asarray(values, float))
    if np.ptp(x) == 0.0:
        return float(np.exp(y.mean())), math.inf
    slope, intercept = np.polyfit(x, y, 1)
    prediction = float(np.exp(intercept + slope * math.log(target)))
    if len(x) < 3:
        return prediction, math.inf
    residual = y - (intercept + slope * x)
    scale = math.sqrt(float(residual @ residual) / (len(x) - 2))
    spread = float(((x - x.mean()) ** 2).sum())
    return prediction, scale * math.sqrt(1.0 + 1.0 / len(x) + (math.log(target) - x.mean()) ** 2 / spread)


def predict_batch(optima: Sequence[Optimum], target: int, choices: Sequence[int]) -> int:
    """bs*(N) at ``target``: with 3+ sizes a log-log fit rounded (in log) to the nearest choice,
    else the best batch of the largest smaller size."""
    latest = max(optima, key=lambda o: o.n_params)
    if len(optima) < 3:
        return latest.batch_size
    predicted, _ = loglog_prediction([o.n_params for o in optima], [o.batch_size for o in optima], target)
    return min(choices, key=lambda c: (abs(math.log(c / predicted)), c))


def _lr_box(centre: float, factor: float, low: float, high: float) -> tuple[float, float]:
    """``[centre / factor, centre * factor]`` moved (not shrunk) into ``[low, high]``, or the
    whole range where it is narrower."""
    if high / low <= factor * factor:
        return low, high
    box_low = min(max(centre / factor, low), high / (factor * factor))
    return box_low, box_low * factor * factor


def _neighbours(choices: Sequence[int], chosen: int) -> tuple[int, ...]:
    """``chosen`` and the next smaller and larger of ``choices``, in the spec's order."""
    ordered = sorted(choices)
    at = ordered.index(chosen)
    keep = set(ordered[max(0, at - 1):at + 2])
    return tuple(c for c in choices if c in keep)


def first_box(spec: ExperimentSpec, n_params: int, optima: Sequence[tuple[str, Optimum]], *,
              trials: int) -> SearchBox:
    """The box of a size of the paper's N ``n_params`` whose study has no trial yet, from the
    optima of smaller sizes ``(name, optimum)`` (empty: the spec's whole range)."""
    search = spec.search
    settings = search.size_aware
    low, high = search.learning_rate.low, search.learning_rate.high
    if not optima:
        return SearchBox(low, high, tuple(search.batch_size), first_trial=0, trials=trials, reason="spec")
    points = [o for _, o in optima]
    centre, error = loglog_prediction([o.n_params for o in points], [o.learning_rate for o in points], n_params)
    factor = settings.first_box_factor
    if math.isfinite(error):
        factor = min(max(math.exp(Z_95 * error), settings.min_box_factor), settings.first_box_factor)
    box_low, box_high = _lr_box(centre, factor, low, high)
    batch = predict_batch(points, n_params, list(search.batch_size))
    predicted = Hyperparameters(min(max(centre, box_low), box_high), batch)
    return SearchBox(box_low, box_high, _neighbours(search.batch_size, batch), first_trial=0, trials=trials,
                     reason="one size" if len(points) == 1 else "fit", predicted=predicted,
                     basis=tuple(name if optimum.final else f"{name} (first {optimum.trials} trials)"
                                 for name, optimum in optima))


def opening_optima(studies: SizeStudies, smaller: Sequence[Size], *, first_trials: Callable[[str], int],
                   finished: Callable[[str], bool]) -> Optional[list[tuple[str, Optimum]]]:
    """The smaller sizes' optima a size's first box is made from, ``(name, optimum)`` smallest
    first, or None while one of them is not fixed yet: every smaller size's final best, but
    the next smaller size's best of its first :func:`informing_trials` trials.

    ``smaller``: the sizes that predict it (its design's and re-run round's smaller sizes),
    smallest first; ``first_trials``: a size's search budget before any widening;
    ``finished``: whether a size's search is over (the phase's, which may widen its box).
    """
    optima = []
    for size in smaller:
        key = size.key
        count = informing_trials(studies, key, first_trials(key)) if size is smaller[-1] else None
        if count is not None:  # the same count however far its search has got since
            best, final = studies.best(key, upto=count), False
        elif finished(key):  # (the next smaller size: none of its trials completed)
            best, final = studies.best(key), True
        else:
            return None
        if best is not None:
            optima.append((key, Optimum(size.n_params, best.learning_rate, best.batch_size, final=final,
                                        trials=count)))
    return optima


def informing_trials(studies: SizeStudies, size: str, budget: int) -> Optional[int]:
    """How many of a still searching size's first trials predict the next larger size: the
    first :data:`INFORMED_TRIALS` (fewer if its ``budget`` is smaller), and more, one at a
    time, until one of them completed. None until those have finished."""
    finished = studies.finished_prefix(size)
    count = min(INFORMED_TRIALS, budget)
    while count <= finished:
        if studies.best(size, upto=count) is not None:
            return count
        count += 1
    return None


__all__ = ["INFORMED_TRIALS", "Z_95", "Optimum", "first_box", "informing_trials", "loglog_prediction",
           "opening_optima", "predict_batch"]
