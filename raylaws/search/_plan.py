"""Per-size search: one Optuna study per rung, then K seeds of each rung's best config.

The :class:`SweepPlanner` is the sweep's brain and knows nothing of Ray: it hands out the next
trial to run (:meth:`SweepPlanner.next_trial`), takes intermediate eval losses and says whether
to prune (:meth:`SweepPlanner.report`), and records how each trial ended
(:meth:`SweepPlanner.complete`): the Arrow record first, then the Optuna ``tell``. Pruning
uses the rung's own study, so a size is only ever compared with trials of its own size.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from raylaws import store
from raylaws.ladder import Size
from raylaws.spec import ExperimentSpec

logger = logging.getLogger(__name__)

JOURNAL_FILE = "optuna.journal"
EVENTS_FILE = "events.jsonl"  # one line per trial started/finished/re-attached, per driver run
SEARCH_SEED = 0  # every search trial trains with this seed, so trials of a size are paired on data order


@dataclass(frozen=True)
class TrialPlan:
    """One trial to run: which size, which phase, which hyperparameters, which seed.

    ``trial_id`` is stable across restarts: ``<size>.s<NNN>`` for search trial NNN of the
    size's Optuna study, ``<size>.seed<K>`` for the K-th seed re-run of its best config.
    ``batch_size`` counts sequences per step.
    """

    trial_id: str
    size: str
    phase: str
    seed: int
    learning_rate: float
    batch_size: int
    optuna_number: Optional[int] = None

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialPlan":
        return cls(**{k: config[k] for k in cls.__dataclass_fields__})


@dataclass
class SizeProgress:
    """Live counts for one size (for progress displays)."""

    size: str
    n_params: int
    budget: int  # search trials + seeds
    done: int = 0
    running: int = 0
    pruned: int = 0
    diverged: int = 0
    failed: int = 0
    best_loss: Optional[float] = None
    seeds_done: int = 0
    seconds: float = 0.0  # training wall seconds of the recorded trials


@dataclass(frozen=True)
class Event:
    """Something the CLI may render: a trial started, reported, or finished."""

    kind: str  # "started" | "finished"
    trial_id: str
    size: str
    status: Optional[str] = None
    eval_loss: Optional[float] = None


class _SizeState:
    """A rung's study and its bookkeeping. Not thread-safe; the planner holds the lock."""

    def __init__(self, rung: Size, study: optuna.Study) -> None:
        self.rung = rung
        self.study = study
        self.live: dict[int, optuna.Trial] = {}  # Optuna number -> trial being trained
        self.best_config: Optional[tuple[float, int]] = None
        self.seeds_issued: set[int] = set()
        self.reattach: list[int] = []  # numbers of RUNNING trials of a dead driver, to run again


class SweepPlanner:
    """Decides what to train next and records what finished. Ray-free; one per driver.

    Args:
        spec: the experiment.
        rungs: the ladder (from :func:`raylaws.ladder.build_ladder`).
        sweep_dir: the sweep directory (holds the Optuna journal and the Arrow store).
        data_fingerprint: recorded in every ``config_json``.
        on_event: optional callback for progress displays; called in the driver.
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        rungs: tuple[Size, ...],
        sweep_dir: Union[str, Path],
        *,
        data_fingerprint: str = "",
        on_event: Optional[Callable[[Event], None]] = None,
        faults: Optional[dict[str, Any]] = None,
    ) -> None:
        self.spec = spec
        self.rungs = rungs
        self.sweep_dir = Path(sweep_dir)
        self._data_fingerprint = data_fingerprint
        self._on_event = on_event
        self._faults = faults or {}
        self._lock = threading.RLock()
        self._run_id = uuid.uuid4().hex[:8]
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(self.sweep_dir / JOURNAL_FILE))
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._sizes: dict[str, _SizeState] = {}
        for index, rung in enumerate(rungs):
            study = optuna.create_study(
                storage=storage,
                study_name=f"{spec.name}/{rung.name}",
                direction="minimize",
                sampler=self._sampler(index),
                pruner=self._pruner(),
                load_if_exists=True,
            )
            self._sizes[rung.name] = _SizeState(rung, study)
        self._plans: dict[str, TrialPlan] = {}  # trial_id -> plan, for trials handed out
        self._last_progress: dict[str, dict[str, Any]] = {}
        self._pruned: set[str] = set()
        self._errors: dict[str, str] = {}
        self._histories: dict[str, list[tuple[int, float]]] = {}  # (step, eval loss) of running trials
        self.progress = {r.name: SizeProgress(r.name, r.n_params, spec.search.trials_per_size + spec.seeds)
                         for r in rungs}
        self.resumed = self._reconcile()
        for kind, trial_ids in self.resumed.items():
            for trial_id in trial_ids:
                self._log(kind, trial_id)

    def _reconcile(self) -> dict[str, list[str]]:
        """Start from what the sweep directory holds (a no-op for a new sweep).

        * recorded trials count towards their size's budget and are never handed out again;
        * seeds already recorded are not re-issued; unrecorded ones are;
        * an Optuna trial left RUNNING by a driver that died is told its outcome if its record
          was written (the driver died between record and tell), and is otherwise re-attached:
          handed out again, with the same number, parameters and ``trial_id``.

        Returns:
            ``{"told": [...], "reattached": [...]}`` trial ids, for the caller's log.
        """
        records = {r["trial_id"]: r for r in store.read_trials(self.sweep_dir).to_pylist()}
        for record in records.values():
            if record["size"] in self.progress:
                self._count(self.progress[record["size"]], record)
                if record["phase"] == "seed":
                    self._sizes[record["size"]].seeds_issued.add(int(record["seed"]))
        told, reattached = [], []
        for state in self._sizes.values():
            for frozen in state.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                trial_id = f"{state.rung.name}.s{frozen.number:03d}"
                if trial_id in records:
                    self._tell(state, frozen.number, records[trial_id])
                    told.append(trial_id)
                else:
                    state.reattach.append(frozen.number)
                    reattached.append(trial_id)
        return {"told": told, "reattached": reattached}

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles searcher and scheduler into tuner.pkl: keep only what rebuilds the
        # planner (its studies live in the journal, its results in the store), no locks,
        # no callbacks.
        return {"spec": self.spec, "rungs": self.rungs, "sweep_dir": str(self.sweep_dir),
                "data_fingerprint": self._data_fingerprint}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["rungs"], state["sweep_dir"],  # type: ignore[misc]
                      data_fingerprint=state["data_fingerprint"])

    def _sampler(self, index: int) -> optuna.samplers.BaseSampler:
        search = self.spec.search
        seed = search.sampler_seed + index  # one reproducible stream per size
        if search.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        startup = min(10, max(3, search.trials_per_size // 3))  # Optuna's default of 10 exceeds small budgets
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True, multivariate=True)

    def _pruner(self) -> optuna.pruners.BasePruner:
        pruning = self.spec.search.pruning
        if not pruning.enabled:
            return optuna.pruners.NopPruner()
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=pruning.grace_steps,
                                                      reduction_factor=pruning.reduction_factor)

    # ---- what to run ----------------------------------------------------------------------

    def remaining_seconds(self, slots: int) -> Optional[float]:
        """Rough wall seconds left: each size's unfinished trials at that size's mean trial time
        so far (sizes with none yet: the mean of the others, scaled by the paper's N), over
        ``slots`` trials at once. None until some trial has finished."""
        with self._lock:
            known = {p.size: p.seconds / p.done for p in self.progress.values() if p.done and p.seconds}
            if not known:
                return None
            reference = sum(self.progress[size].n_params for size in known) / len(known)
            mean_known = sum(known.values()) / len(known)
            work = 0.0
            for p in self.progress.values():
                per_trial = known.get(p.size, mean_known * max(p.n_params / reference, 0.1))
                work += max(0, p.budget - p.done - p.running / 2) * per_trial
            return work / max(1, slots)

    @property
    def total_trials(self) -> int:
        """Trials the whole sweep runs: (search trials + seeds) per size."""
        return len(self.rungs) * (self.spec.search.trials_per_size + self.spec.seeds)

    def is_finished(self) -> bool:
        """True when every size's search budget and seeds are recorded."""
        with self._lock:
            return all(self._size_finished(state) for state in self._sizes.values())

    def _size_finished(self, state: _SizeState) -> bool:
        progress = self.progress[state.rung.name]
        if progress.done >= progress.budget:
            return True
        # A size whose search ended with no completed trial has no config to re-run.
        return (self._search_done(state) and progress.running == 0
                and not state.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def next_trial(self) -> Optional[TrialPlan]:
        """The next trial to start, or None if nothing can start until a running trial ends.

        Largest sizes first (they take longest, so starting them early shortens the sweep);
        a size's seed re-runs are handed out once its whole search budget has finished.
        """
        with self._lock:
            for state in sorted(self._sizes.values(), key=lambda s: -s.rung.n_params):
                plan = self._next_seed(state) or self._next_search(state)
                if plan is not None:
                    self._plans[plan.trial_id] = plan
                    self.progress[plan.size].running += 1
                    self._emit(Event("started", plan.trial_id, plan.size))
                    return plan
            return None

    def _next_search(self, state: _SizeState) -> Optional[TrialPlan]:
        search = self.spec.search
        if state.reattach:
            number = state.reattach.pop(0)
            storage = state.study._storage  # Optuna has no public way to re-open a RUNNING trial
            trial = optuna.Trial(state.study, storage.get_trial_id_from_study_id_trial_number(
                state.study._study_id, number))
        elif len(state.study.get_trials(deepcopy=False)) >= search.trials_per_size:
            return None
        else:
            trial = state.study.ask({
                "learning_rate": FloatDistribution(search.learning_rate.low, search.learning_rate.high, log=True),
                "batch_size": CategoricalDistribution(list(search.batch_size)),
            })
        state.live[trial.number] = trial
        return TrialPlan(
            trial_id=f"{state.rung.name}.s{trial.number:03d}",
            size=state.rung.name,
            phase="search",
            seed=SEARCH_SEED,
            learning_rate=float(trial.params["learning_rate"]),
            batch_size=int(trial.params["batch_size"]),
            optuna_number=trial.number,
        )

    def _next_seed(self, state: _SizeState) -> Optional[TrialPlan]:
        if len(state.seeds_issued) >= self.spec.seeds or not self._search_done(state):
            return None
        if state.best_config is None:
            state.best_config = self._best_config(state)
            if state.best_config is None:
                return None
        seed = min(set(range(1, self.spec.seeds + 1)) - state.seeds_issued)
        state.seeds_issued.add(seed)
        learning_rate, batch_size = state.best_config
        return TrialPlan(f"{state.rung.name}.seed{seed}", state.rung.name, "seed", seed, learning_rate, batch_size)

    def _search_done(self, state: _SizeState) -> bool:
        trials = state.study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state.is_finished()]
        return len(finished) >= self.spec.search.trials_per_size

    def _best_config(self, state: _SizeState) -> Optional[tuple[float, int]]:
        completed = state.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed:
            logger.warning("size %s: no search trial completed (all pruned, diverged or failed); no seed phase",
                           state.rung.name)
            return None
        best = min(completed, key=lambda t: (t.value, t.number))
        return float(best.params["learning_rate"]), int(best.params["batch_size"])

    # ---- what happened --------------------------------------------------------------------

    def report(self, trial_id: str, progress: dict[str, Any]) -> bool:
        """Take an intermediate result; return True if the trial should be pruned.

        Search trials report their eval loss to their own size's study, whose pruner compares
        them with that size's trials only. Seed re-runs are never pruned.
        """
        with self._lock:
            plan = self._plans.get(trial_id)
            if plan is None:
                return False
            self._last_progress[trial_id] = progress
            if progress.get("eval_loss") is not None:
                self._histories.setdefault(trial_id, []).append((int(progress["step"]), float(progress["eval_loss"])))
            if plan.phase != "search" or not self.spec.search.pruning.enabled:
                return False
            trial = self._sizes[plan.size].live.get(plan.optuna_number)  # type: ignore[arg-type]
            eval_loss = progress.get("eval_loss")
            if trial is None or eval_loss is None or not math.isfinite(eval_loss):
                return False
            step = int(progress["step"])
            if step not in trial.storage.get_trial(trial._trial_id).intermediate_values:  # a re-run re-reports
                trial.report(float(eval_loss), step)
            if trial.should_prune():
                self._pruned.add(trial_id)
                return True
            return False

    def note_error(self, trial_id: str, summary: str) -> None:
        """Remember the one-line error of a trial that raised (read back by :meth:`take_error`)."""
        with self._lock:
            self._errors[trial_id] = summary

    def take_error(self, trial_id: str) -> Optional[str]:
        with self._lock:
            return self._errors.pop(trial_id, None)

    def complete(self, trial_id: str, final: Optional[dict[str, Any]], error: Optional[str] = None) -> Optional[dict[str, Any]]:
        """Record how ``trial_id`` ended: the Arrow record (once), then tell its study.

        Args:
            trial_id: the plan's id.
            final: the trial's final report (an :class:`raylaws.train.Outcome` as a dict), or
                None if it was stopped before reporting one: by its pruner (recorded
                ``pruned``), by an error (with ``error``), or from outside, e.g. Ctrl-C (not
                recorded; it runs again when the sweep resumes).
            error: one-line error summary of a failed trial.

        Returns:
            The record written, or None if the trial was unknown, interrupted or already recorded.
        """
        with self._lock:
            plan = self._plans.get(trial_id)
            if plan is None:
                return None
            state = self._sizes[plan.size]
            if final is None and error is None and trial_id not in self._pruned:
                # Stopped from outside (Ctrl-C, shutdown): not finished, so not recorded. Its
                # Optuna trial stays RUNNING and is re-attached when the sweep resumes.
                self.progress[plan.size].running = max(0, self.progress[plan.size].running - 1)
                self._plans.pop(trial_id, None)
                self._log("interrupted", trial_id)
                return None
            record = self._record(plan, state.rung, final, error)
            for per_trial in (self._plans, self._last_progress, self._histories, self._errors):
                per_trial.pop(trial_id, None)
            self._pruned.discard(trial_id)
            written = store.write_record(self.sweep_dir, record)
            if self._faults.get("pause_after_record") == trial_id:  # tests: a window to kill the driver
                self._log("paused", trial_id)
                time.sleep(float(self._faults.get("pause_seconds", 3600)))
            if plan.optuna_number is not None and plan.optuna_number in state.live:
                state.live.pop(plan.optuna_number)
                self._tell(state, plan.optuna_number, record)
            progress = self.progress[plan.size]
            progress.running = max(0, progress.running - 1)
            if written:
                self._count(progress, record)
            self._emit(Event("finished", trial_id, plan.size, record["status"], record["eval_loss"]))
            return record if written else None

    def _tell(self, state: _SizeState, trial: int, record: dict[str, Any]) -> None:
        status = record["status"]
        if status == "completed" and record["eval_loss"] is not None:
            state.study.tell(trial, record["eval_loss"])
        elif status == "pruned":
            state.study.tell(trial, state=TrialState.PRUNED)
        else:  # diverged or failed: never a candidate for best
            state.study.tell(trial, state=TrialState.FAIL)

    def _count(self, progress: SizeProgress, record: dict[str, Any]) -> None:
        progress.done += 1
        progress.seconds += float(record["wall_seconds"] or 0.0)
        status = record["status"]
        if status in ("pruned", "diverged", "failed"):
            setattr(progress, status, getattr(progress, status) + 1)
        if record["phase"] == "seed" and status == "completed":
            progress.seeds_done += 1
        loss = record["eval_loss"]
        if status == "completed" and loss is not None and (progress.best_loss is None or loss < progress.best_loss):
            progress.best_loss = loss

    def _record(self, plan: TrialPlan, rung: Size, final: Optional[dict[str, Any]], error: Optional[str]) -> dict[str, Any]:
        last = self._last_progress.get(plan.trial_id, {})
        now = datetime.now(timezone.utc)
        if final is not None:
            status, stop_reason = final["status"], final["stop_reason"]
            eval_loss, steps, tokens = final["eval_loss"], final["steps"], final["tokens"]
            wall, started, finished = final["wall_seconds"], final["started_at"], final["finished_at"]
            history = final.get("history") or []
            resumed_from = final.get("resumed_from_step")
        else:
            status = "failed" if error is not None else "pruned"
            stop_reason = "error" if error is not None else "pruned"
            eval_loss = last.get("best_eval_loss")
            steps, tokens = int(last.get("step", 0)), int(last.get("tokens", 0))
            wall, started, finished = float(last.get("wall_seconds", 0.0)), last.get("started_at"), now
            history = self._histories.get(plan.trial_id, [])
            resumed_from = last.get("resumed_from_step")
        if plan.trial_id in self._pruned and status == "completed":
            status, stop_reason = "pruned", "pruned"  # stopped by the pruner after its last report
        return {
            "sweep": self.spec.name,
            "trial_id": plan.trial_id,
            "size": rung.name,
            "n_layers": rung.n_layers,
            "d_model": rung.d_model,
            "n_params": rung.n_params,
            "n_params_exact": rung.n_params_exact,
            "phase": plan.phase,
            "seed": plan.seed,
            "learning_rate": plan.learning_rate,
            "batch_size": plan.batch_size,
            "status": status,
            "stop_reason": stop_reason,
            "error": error,
            "eval_loss": eval_loss if eval_loss is None or math.isfinite(eval_loss) else None,
            "steps": steps,
            "tokens": tokens,
            "flops": rung.flops(tokens),
            "wall_seconds": wall,
            "started_at": _as_datetime(started),
            "finished_at": _as_datetime(finished) or now,
            "resumed_from_step": resumed_from,
            "eval_steps": [int(s) for s, _ in history],
            "eval_losses": [float(v) for _, v in history],
            "config_json": json.dumps(self.trial_config(plan), sort_keys=True),
        }

    def trial_config(self, plan: TrialPlan) -> dict[str, Any]:
        """The resolved config of a trial: everything needed to train it again."""
        rung = self._sizes[plan.size].rung
        return {
            "trial": plan.to_config(),
            "rung": asdict(rung),
            "objective": self.spec.objective,
            "training": self.spec.training.model_dump(mode="json"),
            "data": self.spec.data.model_dump(mode="json"),
            "data_fingerprint": self._data_fingerprint,
        }

    def _log(self, kind: str, trial_id: str, **fields: Any) -> None:
        """Append one line to ``events.jsonl``: what this driver started, finished, re-attached."""
        line = {"time": datetime.now(timezone.utc).isoformat(), "run": self._run_id, "event": kind,
                "trial_id": trial_id, **fields}
        with open(self.sweep_dir / EVENTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def _emit(self, event: Event) -> None:
        self._log(event.kind, event.trial_id, size=event.size, status=event.status, eval_loss=event.eval_loss)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a display must never break the sweep
                logger.exception("progress callback failed")


def _as_datetime(value: Any) -> Optional[datetime]:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


__all__ = ["EVENTS_FILE", "Event", "JOURNAL_FILE", "SEARCH_SEED", "SizeProgress", "SweepPlanner", "TrialPlan"]
