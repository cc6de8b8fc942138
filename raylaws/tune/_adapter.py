"""Tune's searcher and scheduler, routed to the Ray-free :class:`raylaws.search.SweepPlanner`.

* :class:`SizeSearcher`, a custom Tune ``Searcher`` that routes ``suggest`` and
  ``on_trial_complete`` to the planner (one Optuna study per size; Ray's ``OptunaSearch``
  holds one study and forces a no-op pruner);
* :class:`PerSizePruner`, a FIFO scheduler that stops a trial when its own size's pruner says
  so (Ray's ASHA has no grouping key);
* :class:`TrialBook`, the bookkeeping that exists only because of Tune (each running trial's
  last progress, eval history, prune flag and error line), shared by the two.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from raylaws.search import SweepPlanner
from raylaws.trial import Outcome, Progress, Status, StopReason


@dataclass
class TrialBook:
    """What Tune tells us of running trials, by raylaws trial id, until each one completes."""

    last: dict[str, Progress] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    def note(self, trial_id: str, progress: Progress) -> None:
        self.last[trial_id] = progress
        self.history.setdefault(trial_id, []).append((progress.step, progress.eval_loss))

    def outcome(self, trial_id: str, final: Optional[dict[str, Any]], raised: bool) -> tuple[Optional[Outcome], Optional[str]]:
        """How the trial ended: its own final report, or (pruned or failed) its last progress;
        ``(None, None)`` if it was stopped from outside (not finished). Forgets the trial."""
        last, history = self.last.pop(trial_id, None), self.history.pop(trial_id, [])
        pruned = trial_id in self.pruned
        self.pruned.discard(trial_id)
        error = self.errors.pop(trial_id, None)
        if final is not None:
            outcome = Outcome.from_report(final)
            if pruned and outcome.status is Status.COMPLETED:  # stopped by the pruner after its last report
                outcome = dataclasses.replace(outcome, status=Status.PRUNED, stop_reason=StopReason.PRUNED)
            return outcome, None
        if raised:
            return Outcome.stopped(Status.FAILED, StopReason.ERROR, last, history), error or "trial raised an error"
        if pruned:
            return Outcome.stopped(Status.PRUNED, StopReason.PRUNED, last, history), None
        return None, None


class SizeSearcher(Searcher):
    """Tune searcher that asks the planner for the next trial of any size.

    Never name an attribute ``searcher``: Tune would take this for a wrapper.
    """

    def __init__(self, planner: SweepPlanner, book: TrialBook) -> None:
        super().__init__(metric=None, mode=None)
        self.planner = planner
        self.book = book
        self._plan_ids: dict[str, str] = {}  # Tune trial id -> raylaws trial id

    def suggest(self, trial_id: str) -> Optional[dict[str, Any]]:
        plan = self.planner.next_trial()
        if plan is None:
            return Searcher.FINISHED if self.planner.is_finished() or self.planner.failure else None
        self._plan_ids[trial_id] = plan.trial_id
        return plan.to_config()

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the studies persist in the sweep's journal, results in its store."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore (see :meth:`save`)."""

    def on_trial_complete(self, trial_id: str, result: Optional[dict[str, Any]] = None, error: bool = False) -> None:
        plan_id = self._plan_ids.pop(trial_id, None)
        if plan_id is None:
            return
        final = result if result and result.get("kind") == "final" else None
        outcome, error_text = self.book.outcome(plan_id, final, error)
        if outcome is None:
            self.planner.interrupt(plan_id)
        else:
            self.planner.complete(plan_id, outcome, error_text)


class PerSizePruner(FIFOScheduler):
    """FIFO scheduling; stops a search trial when its own size's pruner says so."""

    def __init__(self, planner: SweepPlanner, book: TrialBook) -> None:
        super().__init__()
        self.planner = planner
        self.book = book

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get("kind") != "progress":
            return TrialScheduler.CONTINUE
        trial_id = trial.config["trial_id"]
        progress = Progress.from_report(result)
        self.book.note(trial_id, progress)
        if self.planner.should_prune(trial_id, progress):
            self.book.pruned.add(trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.book.errors[trial.config["trial_id"]] = _error_summary(trial)
        super().on_trial_error(tune_controller, trial)


def _error_summary(trial: Any) -> str:
    """The last 'SomeError: message' line of a trial's error file, or a generic line."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception|Interrupt)\b", line)]
    return (lines[-1] if lines else "trial raised an error")[:500]
