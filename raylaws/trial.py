"""The shared vocabulary of a trial: what to run, how it is going, how it ended.

Every stage that hands a trial on uses these types (the planner, the runner, the training
loop, the record builder, the tests), so renaming a field fails at import or type-check time,
not in a real sweep. The only dicts are the runner's report dicts, converted in one place:
:meth:`Progress.to_report` / :meth:`Progress.from_report` and :meth:`Outcome.to_report` /
:meth:`Outcome.from_report`.

Pure Python: importing it imports neither torch nor Ray.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable, Literal, Optional

from raylaws.spec import ExperimentSpec, TrainingSpec

Objective = Literal["mlm", "clm"]
Precision = Literal["fp32", "bf16", "fp16"]
BackendName = Literal["torch", "deepspeed"]


class _StrEnum(str, enum.Enum):
    """A string-valued enum: Arrow columns and JSON keep the plain strings."""

    def __str__(self) -> str:
        return str(self.value)


class Phase(_StrEnum):
    """Which part of a size's schedule a trial belongs to."""

    SEARCH = "search"  # a tuning trial of the size's Optuna study
    SEED = "seed"  # a re-run of the size's best search config with another seed
    FINETUNE_SEARCH = "finetune_search"  # a tuning trial of a (size, task) finetuning study
    FINETUNE_SEED = "finetune_seed"  # a re-run of a (size, task)'s best finetuning config with another seed


class Status(_StrEnum):
    """How a trial ended."""

    COMPLETED = "completed"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    FAILED = "failed"


class StopReason(_StrEnum):
    """Why a trial stopped training."""

    BUDGET = "budget"
    PATIENCE = "patience"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    ERROR = "error"


SEARCH_SEED = 0  # every search trial trains with this seed, so trials of a size are paired on data order


@dataclass(frozen=True)
class Hyperparameters:
    """What the search tunes. ``batch_size`` counts sequences (examples, when finetuning) per
    optimizer step; ``epochs`` is set for finetuning trials only."""

    learning_rate: float
    batch_size: int
    epochs: Optional[int] = None


@dataclass(frozen=True)
class TrialPlan:
    """One trial to run: which size, which phase, which hyperparameters, which seed.

    ``trial_id`` is stable across restarts: ``<size>.s<NNN>`` for search trial NNN of the
    size's Optuna study, ``<size>.seed<K>`` for the K-th seed re-run of its best config.
    ``study_number`` is the Optuna trial number of a search trial (None for seeds).
    A finetuning trial has ``<size>.<task>.s<NNN>`` / ``<size>.<task>.seed<K>``, its ``task``
    and ``base_model``: the pretrained model it starts from, relative to the sweep folder.
    """

    trial_id: str
    size: str
    phase: Phase
    seed: int
    hparams: Hyperparameters
    study_number: Optional[int] = None
    task: Optional[str] = None
    base_model: Optional[str] = None

    @property
    def study_key(self) -> str:
        """The Optuna study this trial belongs to: ``<size>``, or ``<size>/<task>``."""
        return self.size if self.task is None else f"{self.size}/{self.task}"

    def to_config(self) -> dict[str, Any]:
        """The runner's trial config (plain JSON types)."""
        config = {"trial_id": self.trial_id, "size": self.size, "phase": self.phase.value, "seed": self.seed,
                  "learning_rate": self.hparams.learning_rate, "batch_size": self.hparams.batch_size,
                  "study_number": self.study_number}
        if self.task is not None:  # pretraining configs stay as they were
            config.update(task=self.task, base_model=self.base_model, epochs=self.hparams.epochs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialPlan":
        epochs = config.get("epochs")
        return cls(trial_id=config["trial_id"], size=config["size"], phase=Phase(config["phase"]),
                   seed=int(config["seed"]),
                   hparams=Hyperparameters(float(config["learning_rate"]), int(config["batch_size"]),
                                           None if epochs is None else int(epochs)),
                   study_number=config.get("study_number"), task=config.get("task"),
                   base_model=config.get("base_model"))


@dataclass(frozen=True)
class Progress:
    """One evaluation during training, passed to the report hook.

    ``tokens`` counts training tokens seen so far; ``wall_seconds`` of training since the trial
    started (across restarts); ``resumed_from_step`` is the step of the checkpoint this run
    continued from (None for an uninterrupted run).
    """

    step: int
    tokens: int
    eval_loss: float
    best_eval_loss: float
    train_loss: float
    wall_seconds: float
    started_at: datetime
    resumed_from_step: Optional[int] = None

    def to_report(self) -> dict[str, Any]:
        report = asdict(self)
        report["started_at"] = self.started_at.isoformat()
        return {"kind": "progress", **report}

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> "Progress":
        values = {f.name: report.get(f.name) for f in fields(cls)}
        values["started_at"] = _as_datetime(values["started_at"])
        return cls(**values)


@dataclass(frozen=True)
class Outcome:
    """How a trial ended.

    ``eval_loss`` is the best eval loss measured (None if none was); ``history`` the
    ``(step, eval_loss)`` of every evaluation. A finetuning trial's eval loss is
    ``1 - metric``. ``model_path`` is where the trial's best model was kept (relative to the
    sweep folder; seed-phase pretraining trials only).
    """

    status: Status
    stop_reason: StopReason
    eval_loss: Optional[float]
    steps: int
    tokens: int
    wall_seconds: float
    started_at: datetime
    finished_at: datetime
    history: list[tuple[int, float]] = field(default_factory=list)
    resumed_from_step: Optional[int] = None
    model_path: Optional[str] = None

    def to_report(self) -> dict[str, Any]:
        report = asdict(self)
        report.update(status=self.status.value, stop_reason=self.stop_reason.value,
                      started_at=self.started_at.isoformat(), finished_at=self.finished_at.isoformat(),
                      history=[[int(s), float(v)] for s, v in self.history])
        return {"kind": "final", **report}

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> "Outcome":
        return cls(status=Status(report["status"]), stop_reason=StopReason(report["stop_reason"]),
                   eval_loss=report["eval_loss"], steps=int(report["steps"]), tokens=int(report["tokens"]),
                   wall_seconds=float(report["wall_seconds"]),
                   started_at=_as_datetime(report["started_at"]) or datetime.now(timezone.utc),
                   finished_at=_as_datetime(report["finished_at"]) or datetime.now(timezone.utc),
                   history=[(int(s), float(v)) for s, v in report.get("history") or []],
                   resumed_from_step=report.get("resumed_from_step"), model_path=report.get("model_path"))

    @classmethod
    def stopped(cls, status: Status, reason: StopReason, last: Optional[Progress],
                history: list[tuple[int, float]]) -> "Outcome":
        """The outcome of a trial stopped from outside the loop (pruned, or failed), from its
        last progress report."""
        now = datetime.now(timezone.utc)
        best = None if last is None or not math.isfinite(last.best_eval_loss) else last.best_eval_loss
        return cls(status=status, stop_reason=reason, eval_loss=best,
                   steps=last.step if last else 0, tokens=last.tokens if last else 0,
                   wall_seconds=last.wall_seconds if last else 0.0,
                   started_at=last.started_at if last else now, finished_at=now, history=list(history),
                   resumed_from_step=last.resumed_from_step if last else None)


@dataclass(frozen=True)
class TrialSettings:
    """Everything of the spec a trial of one size needs, built once (:meth:`for_size`).

    Attributes:
        objective: ``clm`` (GPT-2 style) or ``mlm`` (BERT style, 15% masking).
        seq_len: tokens per sequence.
        training: budget, schedule, eval interval, patience, precision.
        threads: torch intra-op threads (the CPUs of one worker).
        tie_embeddings: tie the output projection to the token embedding.
        device: ``cuda`` when the size asks for GPUs, else ``cpu``.
        backend: ``torch`` or ``deepspeed``.
        workers: data-parallel workers of one trial (1: no data parallelism).
        zero_stage: DeepSpeed ZeRO stage (0-3).
        micro_batch_size: sequences per forward pass per worker (None: the whole per-worker
            batch); gradients accumulate to ``batch_size`` sequences per optimizer step.
    """

    objective: Objective
    seq_len: int
    training: TrainingSpec
    threads: int = 1
    tie_embeddings: bool = True
    device: Literal["cpu", "cuda"] = "cpu"
    backend: BackendName = "torch"
    workers: int = 1
    zero_stage: int = 0
    micro_batch_size: Optional[int] = None

    @property
    def precision(self) -> Precision:
        return self.training.precision

    @classmethod
    def for_size(cls, spec: ExperimentSpec, size: Any) -> "TrialSettings":
        """The settings of ``size`` (a :class:`raylaws.ladder.Size`) under ``spec``."""
        resources = size.resources
        return cls(objective=spec.objective, seq_len=spec.data.seq_len, training=spec.training,
                   threads=resources.cpus, tie_embeddings=spec.ladder.tie_embeddings,
                   device="cuda" if resources.gpus > 0 else "cpu", backend=resources.backend,
                   workers=resources.workers, zero_stage=resources.zero_stage,
                   micro_batch_size=resources.micro_batch_size)


SaveCheckpoint = Callable[[str], None]
"""Writes a resumable checkpoint of the trial into the given (empty) folder."""


@dataclass(frozen=True)
class TrialHooks:
    """How a running trial talks to whoever runs it.

    Attributes:
        report: called after every evaluation with the progress and, when a checkpoint is
            due (``training.checkpoint_every``), a function that writes one into a folder;
            returning True stops the trial as pruned.
        resume_from: a folder a previous attempt's checkpoint was written to; training
            continues from it.
        save_best: called once when training ends (on rank 0, not for a diverged or pruned
            trial) with the ``transformers`` model holding the weights of its best
            evaluation, to keep it (seed-phase trials keep their models this way).
    """

    report: Optional[Callable[[Progress, Optional[SaveCheckpoint]], Optional[bool]]] = None
    resume_from: Optional[str] = None
    save_best: Optional[Callable[[Any], None]] = None


def _as_datetime(value: Any) -> Optional[datetime]:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


__all__ = [
    "SEARCH_SEED",
    "BackendName",
    "Hyperparameters",
    "Objective",
    "Outcome",
    "Phase",
    "Precision",
    "Progress",
    "SaveCheckpoint",
    "Status",
    "StopReason",
    "TrialHooks",
    "TrialPlan",
    "TrialSettings",
]
