"""A size-aware search's line search in ln lr within a predicted box (:func:`line_search_next`),
and whether it has bracketed the size's best (:func:`unbracketed`). See
:mod:`raylaws.search._size_aware`."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from raylaws.search._box import SearchBox
from raylaws.trial import Hyperparameters

MIN_STEP = 0.02  # a line-search step never lands within this distance in ln lr of a tried learning rate
BATCH_STEP = 4  # the line search's trial (after the bracket and one refinement) that tries another batch size
GOLDEN = 1.618  # a line search stepping past its best goes this many times its last stride further
WAIT = object()  # line_search_next: the next step needs results of trials still running


def line_search_next(first: SearchBox, box: SearchBox, step: int,
                     finished: Sequence[tuple[Hyperparameters, Optional[float]]], *, running: int) -> Any:
    """Trial ``step`` (0 = the size's first) of a predicted size's line search in ln lr: a
    :class:`~raylaws.trial.Hyperparameters`, None (no step left to take: let the sampler draw)
    or :data:`WAIT` (the step needs results of the ``running`` trials).

    ``first``: the size's first box (its ``predicted`` is the prediction); ``box``: its latest
    (a widening moves the bounds the steps are kept within). ``finished``: the size's
    finished trials ``(config, loss)``, loss None for a pruned, diverged or failed one (a
    config that lost). See :mod:`raylaws.search._size_aware` for the steps.
    """
    assert first.predicted is not None
    centre, batch = math.log(first.predicted.learning_rate), first.predicted.batch_size
    quarter = math.log(first.lr_high / first.lr_low) / 4.0
    if step == 0:
        return first.predicted
    if step in (1, 2):
        return Hyperparameters(min(max(math.exp(centre + (quarter if step == 2 else -quarter)), first.lr_low),
                                   first.lr_high), batch)
    if running:
        return WAIT
    best = _best_completed(finished)
    if best is None:
        return None
    others = [c for c in box.batch_sizes if c != best.batch_size]
    if step == BATCH_STEP and others and all(config.batch_size == best.batch_size for config, _ in finished):
        other = min(others, key=lambda c: abs(math.log(c / best.batch_size)))  # the nearest other batch
        return Hyperparameters(min(max(best.learning_rate * math.sqrt(other / best.batch_size), box.lr_low),
                                   box.lr_high), other)
    low, high = math.log(box.lr_low), math.log(box.lr_high)
    points = sorted((math.log(config.learning_rate), math.inf if loss is None else loss)
                    for config, loss in finished if config.batch_size == best.batch_size)
    at = next(i for i, (x, y) in enumerate(points) if y == min(y for _, y in points))
    x0, y0 = points[at]
    left, right = (points[at - 1] if at > 0 else None), (points[at + 1] if at + 1 < len(points) else None)
    if left is None or right is None:  # the best is the outermost tried: step on past it, further each time
        inner = left if right is None else right
        stride = max(quarter, GOLDEN * abs(x0 - inner[0])) if inner is not None else quarter
        x = min(max(x0 + (stride if right is None else -stride), low), high)
        if abs(x - x0) < MIN_STEP:  # on the box's edge: the widening takes it further
            if inner is None:
                return None
            x = (x0 + inner[0]) / 2.0
    elif math.isfinite(left[1]) and math.isfinite(right[1]):
        (xa, ya), (xb, yb) = left, right  # the vertex of the parabola through the three points
        denominator = (x0 - xa) * (y0 - yb) - (x0 - xb) * (y0 - ya)
        x = x0 - 0.5 * ((x0 - xa) ** 2 * (y0 - yb) - (x0 - xb) ** 2 * (y0 - ya)) / denominator \
            if denominator != 0.0 else (x0 + (xa if ya < yb else xb)) / 2.0
        x = min(max(x, xa + MIN_STEP), xb - MIN_STEP)
    else:  # a neighbour lost outright: halve the gap to the better one
        x = (x0 + (left[0] if left[1] <= right[1] else right[0])) / 2.0
    if any(abs(x - tried) < MIN_STEP for tried, _ in points):
        neighbour = min((p for p in (left, right) if p is not None), key=lambda p: p[1])
        x = (x0 + neighbour[0]) / 2.0
        if any(abs(x - tried) < MIN_STEP for tried, _ in points):
            return None  # the bracket is closed to the noise: let the sampler draw
    return Hyperparameters(min(max(math.exp(x), box.lr_low), box.lr_high), best.batch_size)


def _best_completed(finished: Sequence[tuple[Hyperparameters, Optional[float]]]) -> Optional[Hyperparameters]:
    """The config of the lowest loss among ``finished`` (the first of equals), or None."""
    completed = [(config, loss) for config, loss in finished if loss is not None]
    return min(completed, key=lambda item: item[1])[0] if completed else None


def unbracketed(finished: Sequence[tuple[Hyperparameters, Optional[float]]]) -> Optional[str]:
    """``"low"`` or ``"high"`` where the best completed trial has the lowest or highest learning
    rate tried at its batch size (with another tried beside it): the line search has not
    bracketed it. None otherwise."""
    best = _best_completed(finished)
    if best is None:
        return None
    rates = [config.learning_rate for config, _ in finished if config.batch_size == best.batch_size]
    if len(rates) < 2:
        return None
    if best.learning_rate <= min(rates):
        return "low"
    return "high" if best.learning_rate >= max(rates) else None


__all__ = ["BATCH_STEP", "GOLDEN", "MIN_STEP", "WAIT", "line_search_next", "unbracketed"]
