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

The parts: :mod:`~raylaws.search._box` (the boxes and their widening),
:mod:`~raylaws.search._predict` (the prediction from the smaller sizes),
:mod:`~raylaws.search._line_search` (the steps within a box); this module drives them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Optional

from raylaws.ladder import smaller_sizes
from raylaws.search._box import (BOXES_ATTR, EDGE_FRACTION, SearchBox, edge_of, journal_boxes, size_budgets,
                                 widened)
from raylaws.search._ids import search_trial_id
from raylaws.search._line_search import BATCH_STEP, GOLDEN, MIN_STEP, WAIT, line_search_next, unbracketed
from raylaws.search._phases import SearchPhase
from raylaws.search._predict import (INFORMED_TRIALS, Z_95, Optimum, first_box, loglog_prediction, opening_optima,
                                     predict_batch)
from raylaws.search._state import SizeState
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import SEARCH_SEED, Hyperparameters, Phase, TrialPlan

logger = logging.getLogger(__name__)


def boxes_of(studies: SizeStudies, size: str) -> list[SearchBox]:
    """The boxes of ``size`` stored in its study, oldest first (empty before its first ask)."""
    return [SearchBox.from_json(entry) for entry in studies.user_attr(size, BOXES_ATTR) or []]


class SizeAwareSearchPhase(SearchPhase):
    """The search phase of ``strategy: size_aware``: each size's study samples its own box.

    A size's budget is ``search.trials_per_size`` for the smallest size and
    ``size_aware.trials_after_first`` (default the same) for the others, plus the trials its
    widenings added (:meth:`budget_of`).
    """

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        super().__init__(spec, studies)
        # Sizes predict each other within their design and re-run round only.
        self._smaller = {size.key: smaller_sizes(size, studies.sizes) for size in studies.sizes}
        self._rank = {key: len(smaller) for key, smaller in self._smaller.items()}
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
            # Past the bracket (asked > 2) upto is asked, so no trial is running and the step
            # is never WAIT; the bracket's steps (asked <= 2) need no results.
            step = line_search_next(boxes[0], box, asked, self._studies.finished_points(name, upto),
                                    running=asked - upto)
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
        """The smaller sizes' optima the size's first box is made from, or None while one of
        them is not fixed yet (:func:`~raylaws.search._predict.opening_optima`)."""
        return opening_optima(self._studies, self._smaller[name], finished=self._finished,
                              first_trials=lambda size: self._spec.search.trials_of(self._rank[size]))

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


# Re-exported: the names this module held before the boxes, the prediction and the line search
# moved out (raylaws.sweep imports journal_boxes and size_budgets from here).
__all__ = ["BATCH_STEP", "BOXES_ATTR", "EDGE_FRACTION", "GOLDEN", "INFORMED_TRIALS", "MIN_STEP", "WAIT", "Z_95",
           "Optimum", "SearchBox", "SizeAwareSearchPhase", "boxes_of", "edge_of", "first_box", "journal_boxes",
           "line_search_next", "loglog_prediction", "predict_batch", "size_budgets", "unbracketed", "widened"]
