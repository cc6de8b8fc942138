"""The Ray Tune runner: the ONLY module that imports ``ray.tune`` or ``ray.train``.

Ray's reporting and restore APIs change between releases; keeping every call here means the
next change touches one file. The sweep's logic lives in the Ray-free
:class:`raylaws.search.SweepPlanner`; this module adapts it to Tune:

* :class:`RungSearcher`, a custom Tune ``Searcher`` that routes ``suggest`` and
  ``on_trial_complete`` to the planner (one Optuna study per rung; Ray's ``OptunaSearch``
  holds one study and forces a no-op pruner);
* :class:`RungPruner`, a FIFO scheduler that stops a trial when its own rung's Optuna pruner
  says so (Ray's ASHA has no grouping key);
* :func:`trial_function`, the function trainable around :func:`raylaws.train.train_trial`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import ray
import torch
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from raylaws.data import TokenData
from raylaws.ladder import Size
from raylaws.search import SweepPlanner, TrialPlan
from raylaws.spec import ExperimentSpec
from raylaws.train import Hyperparameters, Outcome, Progress, train_trial

logger = logging.getLogger(__name__)

TUNE_DIR = "tune"  # Ray Tune's experiment directory inside the sweep directory


class RungSearcher(Searcher):
    """Tune searcher that asks the planner for the next trial of any rung.

    Never name an attribute ``searcher``: Tune would take this for a wrapper.
    """

    def __init__(self, planner: SweepPlanner) -> None:
        super().__init__(metric=None, mode=None)
        self.planner = planner
        self._plan_ids: dict[str, str] = {}  # Tune trial id -> raylaws trial id

    def suggest(self, trial_id: str) -> Optional[dict[str, Any]]:
        plan = self.planner.next_trial()
        if plan is None:
            return Searcher.FINISHED if self.planner.is_finished() else None
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
        error_text = (self.planner.take_error(plan_id) or "trial raised an error") if error else None
        self.planner.complete(plan_id, _final_outcome(final), error_text)


class RungPruner(FIFOScheduler):
    """FIFO scheduling; stops a search trial when its own rung's Optuna pruner says so."""

    def __init__(self, planner: SweepPlanner) -> None:
        super().__init__()
        self.planner = planner

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get("kind") == "progress" and self.planner.report(trial.config["trial_id"], result):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.planner.note_error(trial.config["trial_id"], _error_summary(trial))
        super().on_trial_error(tune_controller, trial)


def trial_function(config: dict[str, Any], data: TokenData, context: dict[str, Any]) -> None:
    """Ray Tune function trainable: one raylaws trial. ``context`` holds spec and rungs.

    Reports each evaluation; every ``training.checkpoint_every`` steps the report carries a
    checkpoint, from which Tune restarts the trial (``tune.get_checkpoint``) when its worker
    is lost.
    """
    plan = TrialPlan.from_config(config)
    spec: ExperimentSpec = context["spec"]
    rung: Size = context["rungs"][plan.size]
    _inject_fault(plan.trial_id, context.get("faults") or {})
    resume = _load_checkpoint(tune.get_checkpoint())
    started_at = (resume["started_at"] if resume else datetime.now(timezone.utc)).isoformat()
    pending: dict[str, Any] = {}

    def keep(state: dict[str, Any]) -> None:
        pending["state"] = state

    def report(progress: Progress) -> None:
        metrics = {
            "kind": "progress",
            "step": progress.step,
            "tokens": progress.tokens,
            "eval_loss": progress.eval_loss,
            "best_eval_loss": progress.best_eval_loss,
            "train_loss": progress.train_loss,
            "wall_seconds": progress.wall_seconds,
            "started_at": started_at,
            "resumed_from_step": resume["step"] if resume else None,
        }
        state = pending.pop("state", None)
        if state is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as folder:
            torch.save(state, os.path.join(folder, "trial.pt"))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    outcome = train_trial(
        rung,
        Hyperparameters(plan.learning_rate, plan.batch_size),
        data,
        spec.training,
        objective=spec.objective,
        seq_len=spec.data.seq_len,
        seed=plan.seed,
        report=report,
        threads=spec.resources.cpus_per_trial,
        checkpoint=keep if spec.training.checkpoint_every else None,
        checkpoint_every=spec.training.checkpoint_every,
        resume=resume,
        tie_embeddings=spec.ladder.tie_embeddings,
    )
    final = outcome.as_dict()
    final["started_at"] = outcome.started_at.isoformat()
    final["finished_at"] = outcome.finished_at.isoformat()
    final["history"] = [list(item) for item in outcome.history]
    tune.report({"kind": "final", **final})


def _load_checkpoint(checkpoint: Any) -> Optional[dict[str, Any]]:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(os.path.join(folder, "trial.pt"), weights_only=False)


def _inject_fault(trial_id: str, faults: dict[str, Any]) -> None:
    """Testing hook (``RAYLAWS_FAULTS``): make a trial raise on its first N attempts.

    Attempts are counted with marker files in ``faults["marker_dir"]`` (one machine only).
    """
    times = (faults.get("raise") or {}).get(trial_id)
    if not times:
        return
    marker_dir = Path(faults["marker_dir"])
    marker_dir.mkdir(parents=True, exist_ok=True)
    attempt = len(list(marker_dir.glob(f"{trial_id}.*"))) + 1
    (marker_dir / f"{trial_id}.{attempt}").touch()
    if attempt <= int(times):
        raise RuntimeError(f"injected fault in {trial_id} (attempt {attempt})")


def _final_outcome(result: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if result is None:
        return None
    return {field.name: result.get(field.name) for field in dataclasses.fields(Outcome)}


def _error_summary(trial: Any) -> str:
    """The last 'SomeError: message' line of a trial's error file, or a generic line."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception|Interrupt)\b", line)]
    return (lines[-1] if lines else "trial raised an error")[:500]


def run_trials(
    planner: SweepPlanner,
    spec: ExperimentSpec,
    data: TokenData,
    sweep_dir: Path,
    *,
    address: Optional[str] = None,
) -> None:
    """Run the planner's trials on Ray Tune until the sweep is finished.

    Args:
        planner: the sweep's planner (holds studies and writes records).
        spec: the experiment.
        data: prepared token streams (shipped once through Ray's object store).
        sweep_dir: the sweep directory; Tune's own state goes to ``sweep_dir/tune``.
        address: a Ray cluster to attach to; None starts a local Ray in this process (and
            shuts it down at the end). An already initialised Ray is used as it is.
    """
    started_here = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False, configure_logging=False)
        started_here = address is None
    callbacks = [RayProcessLog(str(sweep_dir))] if started_here else []
    # Keeping one checkpoint per trial makes Tune snapshot its (small) experiment state at each
    # checkpoint, and warn that this may be a bottleneck; here it is not.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Library code does not print: no Tune status tables (the CLI renders its own progress).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if started_here:
        record_ray_processes(sweep_dir)
    try:
        resources = spec.resources
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(trial_function, data=data,
                                     context={"spec": spec, "rungs": {r.name: r for r in planner.rungs},
                                              "faults": faults_from_env()}),
                {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial},
            ),
            tune_config=tune.TuneConfig(
                search_alg=RungSearcher(planner),
                scheduler=RungPruner(planner),
                num_samples=-1,
                max_concurrent_trials=concurrency(spec),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=TUNE_DIR,
                storage_path=str(sweep_dir.resolve()),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=resources.max_retries),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=callbacks,
                log_to_file=False,
            ),
        )
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
            (sweep_dir / RAY_PROCESSES_FILE).unlink(missing_ok=True)


RAY_PROCESSES_FILE = "ray-processes.json"  # the local Ray's processes, to clean up after a hard kill


class RayProcessLog(Callback):
    """Keeps ``ray-processes.json`` up to date as trial workers start (local Ray only)."""

    def __init__(self, sweep_dir: str) -> None:
        self.sweep_dir = sweep_dir

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record_ray_processes(Path(self.sweep_dir))


def record_ray_processes(sweep_dir: Path) -> None:
    """Write the pids (with start times) of every process this driver's local Ray started."""
    import psutil

    processes = []
    for child in psutil.Process().children(recursive=True):
        try:
            processes.append({"pid": child.pid, "create_time": child.create_time(), "name": child.name()})
        except psutil.Error:
            continue
    temp = sweep_dir / f".{RAY_PROCESSES_FILE}.tmp"
    temp.write_text(json.dumps({"driver": os.getpid(), "processes": processes}))
    os.replace(temp, sweep_dir / RAY_PROCESSES_FILE)


def kill_stale_ray_processes(sweep_dir: Path) -> list[int]:
    """Kill the Ray processes a hard-killed driver of this sweep left behind; return their pids.

    Only processes whose pid *and* start time match the record are touched, so a reused pid
    is never killed. Call it while holding the sweep's lock (the old driver is then gone).
    """
    import psutil

    path = sweep_dir / RAY_PROCESSES_FILE
    if not path.exists():
        return []
    try:
        recorded = json.loads(path.read_text())["processes"]
    except (OSError, ValueError, KeyError):
        recorded = []
    killed = []
    for entry in recorded:
        try:
            process = psutil.Process(entry["pid"])
            if abs(process.create_time() - entry["create_time"]) > 0.01:
                continue
            process.kill()
            killed.append(entry["pid"])
        except psutil.Error:
            continue
    psutil.wait_procs([psutil.Process(pid) for pid in killed if psutil.pid_exists(pid)], timeout=10)
    path.unlink(missing_ok=True)
    if killed:
        logger.warning("killed %d Ray process(es) left by a previous driver of %s", len(killed), sweep_dir)
    return killed


def faults_from_env() -> dict[str, Any]:
    """Fault injection for raylaws's own tests: JSON in ``RAYLAWS_FAULTS`` (empty otherwise)."""
    text = os.environ.get("RAYLAWS_FAULTS")
    return json.loads(text) if text else {}


def concurrency(spec: ExperimentSpec) -> int:
    """Trials run at once: the spec's cap, or as many as the cluster's CPUs (and GPUs) fit."""
    resources = spec.resources
    if resources.max_concurrent_trials is not None:
        return resources.max_concurrent_trials
    cluster = ray.cluster_resources() if ray.is_initialized() else {"CPU": os.cpu_count() or 1}
    slots = int(cluster.get("CPU", 1) // resources.cpus_per_trial)
    if resources.gpus_per_trial:
        slots = min(slots, int(cluster.get("GPU", 0) // resources.gpus_per_trial))
    return max(1, slots)
