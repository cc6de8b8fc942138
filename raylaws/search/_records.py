"""The record builder: a trial's plan and outcome -> one row of the trials table."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Optional

from raylaws.ladder import Size
from raylaws.spec import ExperimentSpec, spec_hash
from raylaws.tasks import TaskCounts
from raylaws.trial import Outcome, TrialPlan


def trial_config(spec: ExperimentSpec, size: Size, plan: TrialPlan, data_fingerprint: str) -> dict[str, Any]:
    """The resolved config of a trial: everything needed to train it again."""
    config = {
        "trial": plan.to_config(),
        "size": asdict(size),
        "objective": spec.objective,
        "training": spec.training.model_dump(mode="json"),
        "data": spec.data.model_dump(mode="json"),
        "data_fingerprint": data_fingerprint,
    }
    if plan.task is not None and spec.finetune is not None:
        config["finetune"] = spec.finetune.model_dump(mode="json")
    return config


def build_record(spec: ExperimentSpec, size: Size, plan: TrialPlan, outcome: Outcome, *,
                 error: Optional[str] = None, data_fingerprint: str = "",
                 sweep_spec: Optional[ExperimentSpec] = None, examples: Optional[TaskCounts] = None) -> dict[str, Any]:
    """One row of :data:`raylaws.store.TRIALS_SCHEMA` for ``plan`` that ended as ``outcome``.

    ``spec`` is the spec the trial trained under (its design's, or its re-run's);
    ``sweep_spec`` the sweep's own, whose hash every record carries (default: ``spec``).
    A finetuning trial's row names its ``task`` and ``task_metric``; its ``eval_loss`` is
    ``1 - task_score``, and its ``task_train_examples``/``task_eval_examples`` are ``examples``
    (the task's :class:`raylaws.tasks.TaskCounts`; null when not given). A seed-phase
    pretraining trial's row has the ``model_path`` it kept.
    """
    loss = outcome.eval_loss
    if loss is not None and not math.isfinite(loss):
        loss = None
    metric = None
    if plan.task is not None and spec.finetune is not None:
        metric = next(task.metric for task in spec.finetune.tasks if task.name == plan.task)
    return {
        "sweep": spec.name,
        "trial_id": plan.trial_id,
        "size": size.name,
        "n_layers": size.n_layers,
        "d_model": size.d_model,
        "n_params": size.n_params,
        "n_params_exact": size.n_params_exact,
        "phase": plan.phase.value,
        "seed": plan.seed,
        "learning_rate": plan.hparams.learning_rate,
        "batch_size": plan.hparams.batch_size,
        "status": outcome.status.value,
        "stop_reason": outcome.stop_reason.value,
        "error": error,
        "eval_loss": loss,
        "steps": outcome.steps,
        "tokens": outcome.tokens,
        "flops": size.flops(outcome.tokens),
        "wall_seconds": outcome.wall_seconds,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at or datetime.now(timezone.utc),
        "resumed_from_step": outcome.resumed_from_step,
        "eval_steps": [int(s) for s, _ in outcome.history],
        "eval_losses": [float(v) for _, v in outcome.history],
        "precision": spec.training.precision,
        "backend": size.resources.backend,
        "workers": size.resources.workers,
        "cpus_per_worker": size.resources.cpus,
        "gpus_per_worker": size.resources.gpus,
        "spec_hash": spec_hash(sweep_spec or spec),
        "design": size.design,
        "round": size.round,
        "task": plan.task,
        "task_metric": metric,
        "task_score": None if metric is None or loss is None else 1.0 - loss,  # eval_loss = 1 - metric
        "task_train_examples": examples.train if metric is not None and examples is not None else None,
        "task_eval_examples": examples.eval if metric is not None and examples is not None else None,
        "model_path": outcome.model_path,
        "config_json": json.dumps(trial_config(spec, size, plan, data_fingerprint), sort_keys=True),
    }


__all__ = ["build_record", "trial_config"]
