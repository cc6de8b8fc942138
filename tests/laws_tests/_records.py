"""Finetuning records written through the real store, as the finetune phase writes them: one
record per trial with ``task``, ``task_metric``, ``task_score`` and y = 1 - metric in
``eval_loss``; phases ``finetune_search`` and ``finetune_seed``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import numpy as np

from raylaws import store
from raylaws.layout import SweepLayout


def write_task(layout: SweepLayout, task: Optional[str], y_of_n: Callable[[float], float], *, layers: list[int],
               aspect_ratio: int = 12, seeds: int = 5, noise: float = 0.01, design: Optional[str] = None,
               rng: Optional[np.random.Generator] = None) -> None:
    """Two search trials and ``seeds`` seeds per size of task ``task`` whose error 1 - accuracy
    follows ``y_of_n(N)`` with log-normal seed noise of sd ``noise``; ``task`` None writes
    pretraining records (phases search and seed) of loss ``y_of_n(N)`` instead."""
    rng = rng or np.random.default_rng(0)
    clock = datetime(2026, 11, 2, tzinfo=timezone.utc)
    for n_layers in layers:
        d_model = aspect_ratio * n_layers
        rung = f"L{n_layers}-H{d_model}"
        size = f"{design}.{rung}" if design else rung
        n_params = 12 * n_layers * d_model**2
        search, seed_phase = ("search", "seed") if task is None else ("finetune_search", "finetune_seed")
        trials = [(search, 0, 1.15), (search, 0, 1.0)]
        trials += [(seed_phase, seed, 1.0) for seed in range(1, seeds + 1)]
        for number, (phase, seed, factor) in enumerate(trials):
            error = y_of_n(n_params) * factor * float(np.exp(rng.normal(0, noise)))
            prefix = size if task is None else f"{size}.{task}"
            trial_id = f"{prefix}.{'s%03d' % number if phase == search else 'seed%d' % seed}"
            clock += timedelta(minutes=1)
            store.write_record(layout.trials, {
                "sweep": layout.name, "trial_id": trial_id, "size": size, "n_layers": n_layers,
                "d_model": d_model, "n_params": n_params, "n_params_exact": int(n_params * 1.03), "phase": phase,
                "seed": seed, "learning_rate": 1e-4 * (1 + number), "batch_size": 64, "status": "completed",
                "stop_reason": "budget", "error": None, "eval_loss": error, "steps": 100, "tokens": 100 * 64 * 64,
                "flops": 6.0 * n_params * 100 * 64 * 64, "wall_seconds": 3.0, "started_at": clock,
                "finished_at": clock, "eval_steps": [50, 100], "eval_losses": [error * 1.1, error],
                "precision": "fp32", "backend": "torch", "workers": 1, "cpus_per_worker": 1,
                "gpus_per_worker": 0.0, "config_json": "{}", "design": design, "task": task,
                "task_metric": None if task is None else "accuracy",
                "task_score": None if task is None else 1.0 - error, "round": 0,
            })


BOX = {"learning_rate": {"low": 3e-4, "high": 1e-2}, "epochs": [1, 2]}  # a finetuning search box


def write_values(layout: SweepLayout, task: str, values: list[list[float]], *, metric: str = "accuracy",
                 train_examples: Optional[int] = None, learning_rates: Optional[list[float]] = None,
                 epochs: Optional[list[int]] = None, box: Optional[dict] = None, data: Optional[str] = "task.tsv",
                 steps: int = 100, aspect_ratio: int = 12) -> None:
    """Finetuning records of ``task`` whose seeds have exactly ``values[i]`` (y = 1 - metric) at
    the i-th size (L = i + 1), and one worse search trial per size; each size's best config has
    ``learning_rates[i]`` and ``epochs[i]`` (default 1e-3 and 1, inside ``box``, default
    :data:`BOX`). Each ``config_json`` holds the trial's epochs and the finetune section (the
    task's ``data``: None for a built-in task); ``train_examples`` None leaves the count
    unrecorded, as before schema 5."""
    clock = datetime(2026, 11, 2, tzinfo=timezone.utc)
    box = BOX if box is None else box
    for index, seeds in enumerate(values):
        n_layers = index + 1
        d_model = aspect_ratio * n_layers
        size, n_params = f"L{n_layers}-H{d_model}", 12 * n_layers * d_model**2
        lr = (learning_rates or [1e-3] * len(values))[index]
        epoch = (epochs or [1] * len(values))[index]
        trials = [("finetune_search", 0, max(seeds) * 1.2, 1e-3 * 1.5, 1)]
        trials += [("finetune_seed", seed, value, lr, epoch) for seed, value in enumerate(seeds, start=1)]
        for number, (phase, seed, error, learning_rate, trial_epochs) in enumerate(trials):
            clock += timedelta(minutes=1)
            config = {"trial": {"epochs": trial_epochs},
                      "finetune": {**box, "batch_size": 64, "tasks": [{"name": task, "data": data}]}}
            store.write_record(layout.trials, {
                "sweep": layout.name, "trial_id": f"{size}.{task}." + ("s000" if seed == 0 else f"seed{seed}"),
                "size": size, "n_layers": n_layers, "d_model": d_model, "n_params": n_params,
                "n_params_exact": n_params, "phase": phase, "seed": seed, "learning_rate": learning_rate,
                "batch_size": 64, "status": "completed", "stop_reason": "budget", "error": None, "eval_loss": error,
                "steps": steps * trial_epochs, "tokens": steps * trial_epochs * 64 * 64, "flops": 1.0,
                "wall_seconds": 1.0, "started_at": clock, "finished_at": clock, "eval_steps": [steps],
                "eval_losses": [error], "precision": "fp32", "backend": "torch", "workers": 1,
                "cpus_per_worker": 1, "gpus_per_worker": 0.0, "config_json": json.dumps(config), "design": None,
                "task": task, "task_metric": metric, "task_score": 1.0 - error, "round": 0,
                "task_train_examples": train_examples, "task_eval_examples": None if train_examples is None else 200,
            })
