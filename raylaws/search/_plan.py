"""The sweep planner: what to train next, and what to record when a trial ends. Ray-free.

It ties the per-size studies (:mod:`._studies`), the schedule (:mod:`._schedule`), the record
builder (:mod:`._records`), the store and the event log together. The runner (:mod:`raylaws.tune`)
calls :meth:`SweepPlanner.next_trial`, :meth:`SweepPlanner.should_prune` and
:meth:`SweepPlanner.complete` with typed plans, progress and outcomes; the record is written
first, then the study is told, so a crash between the two is repaired on resume.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Callable, Mapping, Optional

from raylaws import store, views
from raylaws.errors import SweepError
from raylaws.layout import SweepLayout
from raylaws.ladder import Size, size_key
from raylaws.search._events import Event, EventLog
from raylaws.search._records import build_record
from raylaws.search._ids import study_trial_id
from raylaws.search._schedule import Schedule
from raylaws.search._seeds import SeedCounts
from raylaws.search._state import SizeState
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec, design_spec
from raylaws.tasks import TaskCounts
from raylaws.trial import Outcome, Phase, Progress, Status, TrialPlan

logger = logging.getLogger(__name__)


class SweepPlanner:
    """Decides what to train next and records what finished. One per driver; thread-safe.

    Args:
        spec: the experiment.
        sizes: the ladder (from :func:`raylaws.ladder.build_ladder`).
        layout: the sweep directory (journal, store, event log).
        data_fingerprint: recorded in every ``config_json``.
        on_event: optional callback for progress displays; called in the driver.
        after_record: called with the trial id right after its record is published and
            before its study is told (raylaws's own fault tests pause there).
        size_specs: the spec each size trains under, by :attr:`Size.key`; default: its
            design's spec (:func:`raylaws.spec.design_spec`). A debug re-run passes the
            re-run's spec for its round's sizes.
        task_counts: each finetuning task's examples (:attr:`raylaws.tasks.TaskData.counts`),
            by name, recorded with its trials.
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        sizes: tuple[Size, ...],
        layout: SweepLayout,
        *,
        data_fingerprint: str = "",
        on_event: Optional[Callable[[Event], None]] = None,
        after_record: Optional[Callable[[str], None]] = None,
        size_specs: Optional[Mapping[str, ExperimentSpec]] = None,
        task_counts: Optional[Mapping[str, TaskCounts]] = None,
    ) -> None:
        self.spec = spec
        self.sizes = sizes
        self.size_specs = dict(size_specs) if size_specs is not None else {
            size.key: design_spec(spec, size.design) for size in sizes}
        self.layout = layout
        self._data_fingerprint = data_fingerprint
        self._task_counts = dict(task_counts or {})
        self._on_event = on_event
        self._after_record = after_record
        self._lock = threading.RLock()
        layout.root.mkdir(parents=True, exist_ok=True)
        self._studies = SizeStudies(spec, sizes, layout.journal, size_specs=self.size_specs)
        self._schedule = Schedule(spec, self._studies)
        self._events = EventLog(layout.events)
        self._states = {size.key: SizeState(size) for size in sizes}
        self._plans: dict[str, TrialPlan] = {}  # trial_id -> plan, for trials handed out
        self._running = {size.key: 0 for size in sizes}
        self.records: list[dict[str, Any]] = []  # every record of the sweep, this run's included
        # A record that could not be written (a full disk): no trial starts after it, and the
        # sweep stops with this error once the running ones have ended (resumable).
        self.failure: Optional[SweepError] = None
        self.resumed = self._reconcile()
        self._count_seeds()
        for kind, trial_ids in self.resumed.items():
            for trial_id in trial_ids:
                self._events.log(kind, trial_id)

    def _reconcile(self) -> dict[str, list[str]]:
        """Start from what the sweep directory holds (a no-op for a new sweep).

        * recorded trials count towards their size's budget and are never handed out again;
        * seeds already recorded are not re-issued; unrecorded ones are (finetuning seeds too);
        * a study trial left RUNNING by a driver that died takes its outcome from its record if
          that was written (Optuna hears of it when a later ask needs it, as in a run that was
          never stopped), and is otherwise re-attached: handed out again, with the same number,
          parameters and ``trial_id``.

        Returns:
            ``{"told": [...], "reattached": [...]}`` trial ids, for the caller's log (``told``:
            the outcomes taken from records).
        """
        every = store.read_trials(self.layout.trials).to_pylist()
        self.records = [r for r in every if _key(r) in self._states]
        # A debug re-run's sizes decide their seeds against the sweep's other sizes' (fixed) seeds.
        self._seed_counts = SeedCounts(self.spec, self._states, views.latest_rounds(
            [r for r in every if _key(r) not in self._states and r["phase"] == Phase.SEED]))
        by_id = {r["trial_id"]: r for r in self.records}
        for record in self.records:
            self._note(record)
        told, reattached = [], []
        tasks = [None] + [task.name for task in self.spec.finetune.tasks] if self.spec.finetune else [None]
        for name, state in self._states.items():
            for task in tasks:
                key = name if task is None else f"{name}/{task}"
                for number in self._studies.running(key):
                    trial_id = study_trial_id(key, number)
                    if trial_id in by_id:
                        record = by_id[trial_id]
                        self._studies.tell(key, number, Status(record["status"]), record["eval_loss"])
                        told.append(trial_id)
                    elif task is None:
                        state.reattach.append(number)
                        reattached.append(trial_id)
                    else:
                        state.task_reattach.setdefault(task, []).append(number)
                        reattached.append(trial_id)
        return {"told": told, "reattached": reattached}

    def _note(self, record: dict[str, Any]) -> None:
        """What the schedule keeps of a record: the seeds it need not issue again, and the
        pretraining seeds' results (finetuning starts from one of their models)."""
        state = self._states[_key(record)]
        if record["phase"] == Phase.SEED:
            state.seeds_issued.add(int(record["seed"]))
            state.seed_records[int(record["seed"])] = record
        elif record["phase"] == Phase.FINETUNE_SEED:
            state.task_seeds_issued.setdefault(record["task"], set()).add(int(record["seed"]))

    def _count_seeds(self) -> None:
        """Decide the seeds each size runs from the records so far (``seeds``' rule, if any)."""
        self._seed_counts.update(self._schedule.search_done,
                                 lambda state: self._studies.best(state.size.key) is not None)

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles searcher and scheduler into tuner.pkl: keep only what rebuilds the
        # planner (its studies live in the journal, its results in the store), no locks,
        # no callbacks.
        return {"spec": self.spec, "sizes": self.sizes, "layout": self.layout,
                "data_fingerprint": self._data_fingerprint, "size_specs": self.size_specs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["sizes"], state["layout"],  # type: ignore[misc]
                      data_fingerprint=state["data_fingerprint"], size_specs=state.get("size_specs"))

    # ---- what to run ----------------------------------------------------------------------

    @property
    def total_trials(self) -> int:
        """Trials the whole sweep runs: the schedule's budget of each size, over all sizes."""
        with self._lock:
            return sum(self._schedule.budget_of(state) for state in self._states.values())

    def status(self) -> Any:
        """The live pretraining status table (:func:`raylaws.views.size_status`), running trials
        included; finetuning trials are in :meth:`task_status`."""
        with self._lock:
            budgets = {state.size.name: self._schedule.pretraining_budget_of(state) for state in self._states.values()}
            running = {size.name: 0 for size in self.sizes}
            names = {state.size.key: state.size.name for state in self._states.values()}
            for plan in self._plans.values():
                running[names[plan.size]] += plan.task is None
            return views.size_status(self.records, self.sizes, budgets, running=running)

    def task_status(self) -> Any:
        """The live finetuning status table (:func:`raylaws.views.task_status`)."""
        with self._lock:
            running: dict[tuple[str, str], int] = {}
            for plan in self._plans.values():
                if plan.task is not None:
                    running[(plan.size, plan.task)] = running.get((plan.size, plan.task), 0) + 1
            return views.task_status(self.records, self.sizes, self.spec, running=running)

    def n_recorded(self) -> int:
        with self._lock:
            return len(self.records)

    def is_finished(self) -> bool:
        """True when every size's schedule is recorded (or can go no further)."""
        with self._lock:
            return all(self._size_finished(state) for state in self._states.values())

    def _size_finished(self, state: SizeState) -> bool:
        name = state.size.key
        if sum(_key(r) == name for r in self.records) >= self._schedule.budget_of(state):
            return True
        # A size whose search ended with no completed trial has no config to re-run (nor a
        # model to finetune); a task whose search ended so has no config to re-run.
        return self._running[name] == 0 and self._schedule.stuck(state)

    def next_trial(self) -> Optional[TrialPlan]:
        """The next trial to start, or None if nothing can start until a running trial ends.

        Largest sizes first (they take longest, so starting them early shortens the sweep);
        a size's later phases are handed out once its earlier ones have finished. A size-aware
        search hands out the smallest size still searching first (its optimum predicts the
        larger sizes'), then larger ones; seeds come after every search. What a trial is (its
        id, config and seed) never depends on this order or on which trial finished first:
        a trial whose config needs results still running waits, and the slot goes to another.
        """
        with self._lock:
            if self.failure is not None:
                return None
            for state in sorted(self._states.values(), key=self._hand_out_order):
                plan = self._schedule.next(state)
                if plan is not None:
                    self._plans[plan.trial_id] = plan
                    self._running[plan.size] += 1
                    self._emit(Event("started", plan.trial_id, plan.size))
                    return plan
            return None

    def _hand_out_order(self, state: SizeState) -> tuple[bool, int]:
        if self.size_specs[state.size.key].search.strategy != "size_aware":
            return False, -state.size.n_params
        searching = not self._schedule.search_done(state)
        return not searching, state.size.n_params if searching else -state.size.n_params

    # ---- what happened --------------------------------------------------------------------

    def should_prune(self, trial_id: str, progress: Progress) -> bool:
        """Take an evaluation of a running trial; True if it should be stopped as pruned.

        Search trials report to their own size's study (finetuning search trials to their
        (size, task) study), whose pruner compares them with that study's trials only. Seed
        re-runs are never pruned, nor are a size-aware size's line-search trials.
        """
        with self._lock:
            plan = self._plans.get(trial_id)
            if plan is None or plan.study_number is None:
                return False
            size_spec = self.size_specs[plan.size]
            pruning = size_spec.search.pruning if plan.task is None else size_spec.finetune.pruning  # type: ignore[union-attr]
            if not pruning.enabled or (plan.task is None and not self._schedule.search.prunes(plan.size)) \
                    or not math.isfinite(progress.eval_loss):
                return False
            self._studies.report(plan.study_key, plan.study_number, progress.step, progress.eval_loss)
            return self._studies.should_prune(plan.study_key, plan.study_number, pruning, progress.step)

    def interrupt(self, trial_id: str) -> None:
        """A trial stopped from outside (Ctrl-C, shutdown): not finished, so not recorded. Its
        study trial stays RUNNING and is re-attached when the sweep resumes."""
        with self._lock:
            plan = self._plans.pop(trial_id, None)
            if plan is None:
                return
            self._running[plan.size] = max(0, self._running[plan.size] - 1)
            if plan.study_number is not None:
                self._studies.forget(plan.study_key, plan.study_number)
            self._events.log("interrupted", trial_id)

    def complete(self, trial_id: str, outcome: Outcome, error: Optional[str] = None) -> Optional[dict[str, Any]]:
        """Record how ``trial_id`` ended: the Arrow record (once), then tell its study.

        Args:
            trial_id: the plan's id.
            outcome: how it ended.
            error: one-line error summary of a failed trial.

        Returns:
            The record written, or None if the trial was unknown or already recorded.
        """
        with self._lock:
            plan = self._plans.pop(trial_id, None)
            if plan is None:
                return None
            size = self._states[plan.size].size
            record = build_record(self.size_specs[plan.size], size, plan, outcome, error=error,
                                  data_fingerprint=self._data_fingerprint, sweep_spec=self.spec,
                                  examples=self._task_counts.get(plan.task) if plan.task is not None else None)
            try:
                written = store.write_record(self.layout.trials, record)
            except SweepError as error:  # not recorded: the trial runs again on resume
                self.failure = self.failure or error
                self._plans[trial_id] = plan
                self.interrupt(trial_id)
                return None
            if self._after_record is not None:
                self._after_record(trial_id)
            if plan.study_number is not None and self._studies.is_live(plan.study_key, plan.study_number):
                self._studies.tell(plan.study_key, plan.study_number, outcome.status, record["eval_loss"])
            self._running[plan.size] = max(0, self._running[plan.size] - 1)
            if written:
                self.records.append(record)
                self._note(record)
                self._count_seeds()
            self._emit(Event("finished", trial_id, plan.size, record["status"], record["eval_loss"]))
            return record if written else None

    def log(self, kind: str, trial_id: str) -> None:
        """Add a line to the sweep's event log (e.g. a test's pause point)."""
        self._events.log(kind, trial_id)

    def _emit(self, event: Event) -> None:
        self._events.emit(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a display must never break the sweep
                logger.exception("progress callback failed")


def _key(record: Mapping[str, Any]) -> str:
    """The planner's key of the size a record belongs to (its name, and its round if > 0)."""
    return size_key(record["size"], record.get("round"))


__all__ = ["SweepPlanner"]
