"""Size-aware search (``search.strategy: size_aware``): each size's box from the smaller sizes.

Sizes are searched smallest first. When a size's study starts, lr*(N) and bs*(N) are fitted
over the smaller sizes' optima (log-log linear in N; the next smaller size counts with the best
of its first few trials, see below; every smaller one with its final best): the study's first
trial is the predicted optimum (``enqueue_trial``) and it samples a box around the prediction. With one smaller
size the box is ``first_box_factor`` times either way of its best; with two or more, the fit's
95% prediction interval of ln lr* (normal quantile: with three or four sizes Student's t
would make every box the whole range), clipped to ``[min_box_factor, first_box_factor]``.
A box never leaves ``search.learning_rate`` when it is made; the batch box is the predicted
choice and its neighbours among ``search.batch_size``. A size whose first trial is due before
any smaller size has a completed trial (all pruned so far, say) searches the spec's whole
range, as the smallest size does: no slot waits for a prediction.

Within a predicted box the trials after the first are a line search in ln lr at the predicted
batch size (:func:`line_search_next`), not draws: two trials bracket the prediction a quarter
of the box's log-width either way; each later one goes to the vertex of the parabola through
the best trial and its two neighbours, or steps past the best where it is the outermost. The
fifth trial (:data:`BATCH_STEP`), where the box has another batch size, tries the nearest one at
the best learning rate scaled by the square root of the batch ratio; with fewer trials a
size keeps the predicted batch size. A few trials of a tiny model are noisy enough
that draws from a box (Optuna's samplers start with random draws) spend them far from the
optimum. A step waits for every earlier trial of its size to finish (the slot goes to other
work meanwhile). Line-search trials are not pruned: each step needs the final losses, and an
early evaluation favours the higher learning rates, which start faster.

A size opens (makes its box) once what it is made from is fixed: the first
:data:`INFORMED_TRIALS` trials of the next smaller size have finished (more, in number order,
until one of them completed), and every smaller size below that has finished its search. Until
then its slot goes to other work (seed re-runs of finished sizes, say). Every decision here
depends on results taken in trial-number order, never on which trial finished first, so a
sweep makes the same boxes and steps on every run.

When every trial of a size's budget has finished and its best sits on an edge of the box
(within :data:`EDGE_FRACTION` of the box's log-width, or on the box's smallest or largest
batch size while the spec has another beyond it), the box widens past that edge by
``max(2, (high / low) ** 0.25)`` times, with a probe trial enqueued between the old and the new
edge and ``widen_trials`` more trials, up to ``max_extra_trials`` per size. Widening may take
learning rates past ``search.learning_rate`` by up to ``beyond_range`` times (a researcher's
range is a guess; an optimum on its edge is not an optimum), never batch sizes past the
spec's choices (they are what the hardware was sized for).

Every box of a size is stored with its study (user attribute :data:`BOXES_ATTR`, in the
journal) when it is made, so a resumed sweep searches the same boxes; the report draws them.

N is the paper's non-embedding count 12*L*H^2 throughout.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from raylaws.search._schedule import SearchPhase, SizeState, search_trial_id
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import SEARCH_SEED, Hyperparameters, Phase, TrialPlan

logger = logging.getLogger(__name__)

BOXES_ATTR = "raylaws:boxes"  # study user attribute: the size's boxes, oldest first (JSON)
EDGE_FRACTION = 0.1  # a best lr within this fraction of the box's log-width from an edge is on it
INFORMED_TRIALS = 3  # finished trials of a smaller, still searching size before it predicts a larger one
MIN_STEP = 0.02  # a line-search step never lands within this distance in ln lr of a tried learning rate
BATCH_STEP = 4  # the line search's trial (after the bracket and one refinement) that tries another batch size
GOLDEN = 1.618  # a line search stepping past its best goes this many times its last stride further
WAIT = object()  # line_search_next: the next step needs results of trials still running
Z_95 = 1.959964  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Optimum:
    """A smaller size's best search config so far; ``final`` once its search has finished."""

    n_params: int  # the paper's N
    learning_rate: float
    batch_size: int
    final: bool
    trials: Optional[int] = None  # not final: the best of this many of the size's first trials


@dataclass(frozen=True)
class SearchBox:
    """Where a size's study samples from its trial ``first_trial`` on.

    Learning rates log-uniform in ``[lr_low, lr_high]``, batch sizes (sequences per step)
    among ``batch_sizes``; ``predicted`` is the config enqueued as the box's first trial (the
    predicted optimum, or a widening's probe), ``trials`` the size's search budget once this
    box applies, ``reason`` how it was made and ``basis`` the sizes whose optima it used
    (``"<size> (searching)"``: that size's best so far).
    """

    lr_low: float
    lr_high: float
    batch_sizes: tuple[int, ...]
    first_trial: int
    trials: int
    reason: str  # "spec", "one size", "fit", "widened", "unbracketed" (the line search goes on)
    predicted: Optional[Hyperparameters] = None
    basis: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = list(self.batch_sizes)
        data["basis"] = list(self.basis)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SearchBox":
        predicted = data.get("predicted")
        return cls(lr_low=float(data["lr_low"]), lr_high=float(data["lr_high"]),
                   batch_sizes=tuple(int(b) for b in data["batch_sizes"]), first_trial=int(data["first_trial"]),
                   trials=int(data["trials"]), reason=str(data["reason"]),
                   predicted=Hyperparameters(float(predicted["learning_rate"]), int(predicted["batch_size"]))
                   if predicted else None, basis=tuple(data.get("basis") or ()))


def boxes_of(studies: SizeStudies, size: str) -> list[SearchBox]:
    """The boxes of ``size`` stored in its study, oldest first (empty before its first ask)."""
    return [SearchBox.from_json(entry) for entry in studies.user_attr(size, BOXES_ATTR) or []]


def journal_boxes(journal: Path) -> dict[str, list[SearchBox]]:
    """Every size's boxes stored in a sweep's journal, by size name; read-only (no study is
    created). Empty for a sweep of ``strategy: independent``."""
    if not journal.exists():
        return {}
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    found = {}
    for study in storage.get_all_studies():
        entries = study.user_attrs.get(BOXES_ATTR)
        if entries:
            found[study.study_name.rpartition("/")[2]] = [SearchBox.from_json(entry) for entry in entries]
    return found


def size_budgets(spec: ExperimentSpec, sizes: Sequence[Any], boxes: dict[str, list[SearchBox]]) -> dict[str, int]:
    """Trials each size records, by name: its search budget (its latest box's, once it has one)
    plus its seed re-runs. ``sizes``: the ladder's :class:`raylaws.ladder.Size` values."""
    ranks = {size.name: sum(other.n_params < size.n_params and getattr(other, "design", None) == getattr(size, "design", None)
                            for other in sizes) for size in sizes}  # rank within the size's design
    return {size.name: (boxes[size.name][-1].trials if boxes.get(size.name) else spec.search.trials_of(ranks[size.name]))
            + spec.seeds for size in sizes}


# ---- the predictions (pure) ---------------------------------------------------------------


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


def line_search_next(first: SearchBox, box: SearchBox, step: int,
                     finished: Sequence[tuple[Hyperparameters, Optional[float]]], *, running: int) -> Any:
    """Trial ``step`` (0 = the size's first) of a predicted size's line search in ln lr: a
    :class:`~raylaws.trial.Hyperparameters`, None (no step left to take: let the sampler draw)
    or :data:`WAIT` (the step needs results of the ``running`` trials).

    ``first``: the size's first box (its ``predicted`` is the prediction); ``box``: its latest
    (a widening moves the bounds the steps are kept within). ``finished``: the size's
    finished trials ``(config, loss)``, loss None for a pruned, diverged or failed one (a
    config that lost). See the module docstring for the steps.
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


def edge_of(box: SearchBox, best: Hyperparameters, choices: Sequence[int]) -> tuple[Optional[str], Optional[str]]:
    """Which edge of ``box`` the best config sits on: ``(lr edge, batch edge)``, each ``"low"``,
    ``"high"`` or None; a batch edge only where ``choices`` (the spec's) go on beyond it."""
    width = math.log(box.lr_high / box.lr_low)
    lr_edge = None
    if math.log(best.learning_rate / box.lr_low) <= EDGE_FRACTION * width:
        lr_edge = "low"
    elif math.log(box.lr_high / best.learning_rate) <= EDGE_FRACTION * width:
        lr_edge = "high"
    batch_edge = None
    if best.batch_size == min(box.batch_sizes) and min(choices) < best.batch_size:
        batch_edge = "low"
    elif best.batch_size == max(box.batch_sizes) and max(choices) > best.batch_size:
        batch_edge = "high"
    return lr_edge, batch_edge


def widened(spec: ExperimentSpec, box: SearchBox, best: Hyperparameters, *, first_trial: int,
            extra_so_far: int) -> Optional[SearchBox]:
    """The next box of a size whose best is ``best`` after every trial of ``box`` finished,
    or None: the best is on no edge that can move, or the size has had its extra trials."""
    search = spec.search
    settings = search.size_aware
    extra = min(settings.widen_trials, settings.max_extra_trials - extra_so_far)
    if extra <= 0:
        return None
    lr_edge, batch_edge = edge_of(box, best, search.batch_size)
    step = max(2.0, (box.lr_high / box.lr_low) ** 0.25)
    floor, ceiling = search.learning_rate.low / settings.beyond_range, search.learning_rate.high * settings.beyond_range
    low, high, probe_lr = box.lr_low, box.lr_high, best.learning_rate
    if lr_edge == "high" and high * (1.0 + 1e-9) < ceiling:
        high = min(high * step, ceiling)
        probe_lr = math.sqrt(box.lr_high * high)
    elif lr_edge == "low" and low > floor * (1.0 + 1e-9):
        low = max(low / step, floor)
        probe_lr = math.sqrt(box.lr_low * low)
    batches, probe_batch = box.batch_sizes, best.batch_size
    if batch_edge is not None:
        ordered = sorted(search.batch_size)
        beyond = ordered[ordered.index(best.batch_size) + (1 if batch_edge == "high" else -1)]
        batches = tuple(c for c in search.batch_size if c in set(box.batch_sizes) | {beyond})
        if (low, high) == (box.lr_low, box.lr_high):
            probe_batch = beyond
    if (low, high, batches) == (box.lr_low, box.lr_high, box.batch_sizes):
        return None
    return replace(box, lr_low=low, lr_high=high, batch_sizes=batches, first_trial=first_trial,
                   trials=box.trials + extra, reason="widened", predicted=Hyperparameters(probe_lr, probe_batch),
                   basis=())


# ---- the phase ----------------------------------------------------------------------------


class SizeAwareSearchPhase(SearchPhase):
    """The search phase of ``strategy: size_aware``: each size's study samples its own box.

    A size's budget is ``search.trials_per_size`` for the smallest size and
    ``size_aware.trials_after_first`` (default the same) for the others, plus the trials its
    widenings added (:meth:`budget_of`).
    """

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        super().__init__(spec, studies)
        # Sizes predict each other within their design and re-run round only.
        ordered = sorted(studies.sizes, key=lambda s: s.n_params)
        group = {size.key: (size.design, size.round) for size in ordered}
        self._smaller = {size.key: [s for s in ordered if s.n_params < size.n_params and group[s.key] == group[size.key]]
                         for size in ordered}
        self._rank = {size.key: len(self._smaller[size.key]) for size in ordered}
        self._checked: set[tuple[str, int]] = set()  # (size, budget) whose edges were looked at

    def budget_of(self, state: SizeState) -> int:
        self._widen_if_on_edge(state.size.key)  # a finished size whose best is on an edge has more to run
        boxes = boxes_of(self._studies, state.size.key)
        return boxes[-1].trials if boxes else self._spec.search.trials_of(self._rank[state.size.key])

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        name = state.size.key
        if state.reattach:
            return super().next(state)
        self._widen_if_on_edge(name)
        boxes = boxes_of(self._studies, name)
        if not boxes:
            optima = self._opening_optima(name)
            if optima is None:
                return None  # what its box is made from is not all in yet
            boxes = [self._open(state, optima)]
        box = boxes[-1]
        asked = self._studies.n_asked(name)
        if asked >= box.trials:
            return None
        probe = asked == box.first_trial and box.predicted is not None
        line = boxes[0].predicted is not None and not probe
        # The trials this one is asked after: a line-search step past the bracket needs them all.
        upto = asked if line and asked > 2 else self._studies.sees(name, asked)
        if not self._studies.settle(name, upto):
            return None
        if probe:
            self._studies.enqueue(name, box.predicted)  # a crash before the ask: enqueued again, once
        elif line:
            step = line_search_next(boxes[0], box, asked, self._studies.finished_points(name, upto),
                                    running=asked - upto)
            if step is WAIT:
                return None
            if isinstance(step, Hyperparameters):
                self._studies.enqueue(name, step)
        number, hparams = self._studies.ask(name, box)
        return TrialPlan(trial_id=search_trial_id(name, number), size=name, phase=Phase.SEARCH, seed=SEARCH_SEED,
                         hparams=hparams, study_number=number)

    def done(self, state: SizeState) -> bool:
        if not self._finished(state.size.key):
            return False
        self._studies.settle_all(state.size.key)
        return True

    def prunes(self, size: str) -> bool:
        """A size with a predicted box line-searches: it needs every trial's final loss (an
        early evaluation favours the higher learning rates, which start faster), so none is
        pruned. The smallest size, searching the spec's range, is pruned as the spec says."""
        boxes = boxes_of(self._studies, size)
        return not boxes or boxes[0].predicted is None

    def _opening_optima(self, name: str) -> Optional[list[tuple[str, Optimum]]]:
        """The smaller sizes' optima the size's first box is made from, ``(name, optimum)``
        smallest first, or None while one of them is not fixed yet: every smaller size's final
        best, but the next smaller size's best of its first :meth:`_informing` trials."""
        optima = []
        for smaller in self._smaller[name]:
            key = smaller.key
            count = self._informing(key) if smaller is self._smaller[name][-1] else None
            if count is not None:  # the same count however far its search has got since
                best, final = self._studies.best(key, upto=count), False
            elif self._finished(key):  # (the next smaller size: none of its trials completed)
                best, final = self._studies.best(key), True
            else:
                return None
            if best is not None:
                optima.append((key, Optimum(smaller.n_params, best.learning_rate, best.batch_size, final=final,
                                            trials=count)))
        return optima

    def _informing(self, size: str) -> Optional[int]:
        """How many of a still searching size's first trials predict the next larger size: the
        first :data:`INFORMED_TRIALS` (fewer if its budget is smaller), and more, one at a
        time, until one of them completed. None until those have finished."""
        finished = self._studies.finished_prefix(size)
        count = min(INFORMED_TRIALS, self._spec.search.trials_of(self._rank[size]))
        while count <= finished:
            if self._studies.best(size, upto=count) is not None:
                return count
            count += 1
        return None

    def _open(self, state: SizeState, optima: list[tuple[str, Optimum]]) -> SearchBox:
        """Make and store the first box of a size whose study has no trial yet."""
        name = state.size.key
        box = first_box(self._studies.spec_of(name), state.size.n_params, optima,
                        trials=self._spec.search.trials_of(self._rank[name]))
        self._store(name, [box])
        logger.info("size %s: search box lr [%.2e, %.2e], batch %s (%s)", name, box.lr_low, box.lr_high,
                    list(box.batch_sizes), box.reason)
        return box

    def _widen_if_on_edge(self, name: str) -> None:
        """Once every trial of the size's budget has finished, widen its box if its best is on an edge."""
        boxes = boxes_of(self._studies, name)
        if not boxes or (name, boxes[-1].trials) in self._checked:
            return
        box = boxes[-1]
        finished = self._studies.n_finished(name)
        if finished < box.trials or self._studies.n_asked(name) > finished:
            return
        self._checked.add((name, box.trials))
        best = self._best(name)
        if best is None:
            return
        extra = box.trials - boxes[0].trials
        spec = self._studies.spec_of(name)
        wider = widened(spec, box, best, first_trial=self._studies.n_asked(name), extra_so_far=extra)
        more = min(spec.search.size_aware.widen_trials, spec.search.size_aware.max_extra_trials - extra)
        if wider is None and boxes[0].predicted is not None and more > 0 \
                and unbracketed(self._studies.finished_points(name)) is not None:
            # Inside the box, but the line search has not bracketed it: its steps go on.
            wider = replace(box, first_trial=self._studies.n_asked(name), trials=box.trials + more,
                            reason="unbracketed", predicted=None, basis=())
        if wider is None:
            return
        self._store(name, boxes + [wider])
        logger.info("size %s: best lr %.2e, batch %d on an edge of its box; widened to lr [%.2e, %.2e], batch %s, "
                    "%d trials in all", name, best.learning_rate, best.batch_size, wider.lr_low, wider.lr_high,
                    list(wider.batch_sizes), wider.trials)

    def _best(self, size: str) -> Optional[Hyperparameters]:
        return self._studies.best(size)

    def _finished(self, size: str) -> bool:
        """Whether the size's search is over: every trial of its latest box finished, and its
        best on no edge that widens it."""
        self._widen_if_on_edge(size)
        boxes = boxes_of(self._studies, size)
        return bool(boxes) and self._studies.n_finished(size) >= boxes[-1].trials

    def _store(self, size: str, boxes: list[SearchBox]) -> None:
        self._studies.set_user_attr(size, BOXES_ATTR, [box.to_json() for box in boxes])


__all__ = ["BOXES_ATTR", "WAIT", "Optimum", "SearchBox", "SizeAwareSearchPhase", "boxes_of", "edge_of", "first_box",
           "journal_boxes", "line_search_next", "loglog_prediction", "predict_batch", "size_budgets", "unbracketed",
           "widened"]
