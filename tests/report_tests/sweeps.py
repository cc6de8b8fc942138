"""Small real sweeps for the report tests: real spec.yaml and real trial records written with the
store API (what the runner writes), with losses that follow a power law in N, a learning-rate
optimum per size, and the trials a real sweep has: pruned, diverged, failed, stopped by patience.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from raylaws import store
from raylaws.layout import SweepLayout
from raylaws.spec import spec_from_dict

REPO = Path(__file__).resolve().parents[2]
SEQ_LEN = 64
MAX_STEPS = 800
EVAL_INTERVAL = 50
# Best learning rate per layer count: the smallest size's optimum sits at the top of the search
# box [1e-3, 3e-2] (a finding the report must make); the others lie inside it.
LR_OPTIMUM = {1: 2.9e-2, 2: 1.2e-2, 3: 7e-3, 4: 4e-3}


# The first demo's spec (the demo has changed since; these synthetic sweeps keep its shape).
FIRST_DEMO = {
    "name": "demo", "objective": "clm",
    "data": {"source": "stdlib", "tokenizer": {"kind": "bpe", "vocab_size": 512}, "seq_len": SEQ_LEN, "eval_tokens": 8192},
    "ladder": {"aspect_ratio": 12, "layers": [1, 2, 3, 4], "n_heads": 4, "ffn_ratio": 4, "tie_embeddings": False},
    "training": {"max_steps": MAX_STEPS, "warmup_steps": 80, "schedule": "cosine", "eval_interval": EVAL_INTERVAL,
                 "patience": 200},
    "search": {"learning_rate": {"low": 1.0e-3, "high": 3.0e-2}, "batch_size": [16, 32], "trials_per_size": 8,
               "sampler": "tpe", "sampler_seed": 0,
               "pruning": {"enabled": True, "grace_steps": 150, "reduction_factor": 3}},
    "seeds": 3, "resources": {"cpus_per_trial": 1},
}


def demo_spec_dict(layers: list[int]) -> dict[str, Any]:
    spec = copy.deepcopy(FIRST_DEMO)
    spec["ladder"]["layers"] = layers
    return spec_from_dict(spec).model_dump(mode="json")


def law(n_params: float) -> float:
    return 12.0 * n_params ** -0.12  # nats/token: 4.9 at N=1,728 down to 3.0 at N=110,592


def curve(final: float, steps: list[int], tau: float) -> list[float]:
    return [final + (6.2 - final) * math.exp(-s / tau) for s in steps]


def write_sweep(root: Path, layers: list[int], *, seeds_of_largest: int = 1, with_faults: bool = True) -> Path:
    """A sweep of the demo spec over ``layers``: 8 search trials and 3 seeds per size (the largest
    size ``seeds_of_largest`` seeds, so the sweep is partial); see the module docstring."""
    spec = demo_spec_dict(layers)
    layout = SweepLayout.at(root)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.spec.write_text(yaml.safe_dump(spec, sort_keys=False))
    rng = np.random.default_rng(0)
    clock = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for n_layers in layers:
        d_model = 12 * n_layers
        size = f"L{n_layers}-H{d_model}"
        n_params = 12 * n_layers * d_model**2
        optimum = LR_OPTIMUM[n_layers]
        lrs = list(np.exp(rng.uniform(math.log(1e-3), math.log(3e-2), 7))) + [optimum * 1.03]
        best_lr, best_bs, best_loss = None, None, math.inf
        for number, lr in enumerate(lrs):
            bs = [16, 32][number % 2]
            final = law(n_params) * (1 + 0.03 * math.log(lr / optimum) ** 2) + (0.02 if bs == 32 else 0.0)
            final *= math.exp(rng.normal(0, 0.003))
            status, stop, steps_run, error = "completed", "budget", MAX_STEPS, None
            if number == 2:
                status, stop, steps_run = "pruned", "pruned", 150
            if with_faults and number == 3 and n_layers == 2:
                status, stop, steps_run = "diverged", "diverged", 200
            if with_faults and number == 4 and n_layers == 3:
                status, stop, steps_run, error = "failed", "error", 0, "RuntimeError: CUDA out of memory"
            steps = list(range(EVAL_INTERVAL, steps_run + 1, EVAL_INTERVAL))
            losses = curve(final, steps, tau=120.0)
            if status == "diverged":
                losses[-1] = float("nan")
            measured = [y for y in losses if math.isfinite(y)]
            eval_loss = min(measured) if status in ("completed", "pruned") and measured else None
            if status == "completed" and eval_loss < best_loss:
                best_lr, best_bs, best_loss = lr, bs, eval_loss
            clock += timedelta(minutes=1)
            _write(layout, clock, size, n_layers, d_model, n_params, f"{size}.s{number:03d}", "search", 0, lr, bs,
                   status, stop, error, eval_loss, steps, losses)
        n_seeds = seeds_of_largest if n_layers == layers[-1] else 3
        for seed in range(1, n_seeds + 1):
            final = best_loss * math.exp(rng.normal(0, 0.004))
            stop, tau, steps_run = "budget", 120.0, MAX_STEPS
            if n_layers == 3 and seed == 1:  # stopped by patience while the loss still falls
                stop, tau, steps_run = "patience", 250.0, 600
            steps = list(range(EVAL_INTERVAL, steps_run + 1, EVAL_INTERVAL))
            losses = curve(final, steps, tau)
            clock += timedelta(minutes=1)
            _write(layout, clock, size, n_layers, d_model, n_params, f"{size}.seed{seed}", "seed", seed, best_lr,
                   best_bs, "completed", stop, None, min(losses), steps, losses)
    return root


def _write(layout: SweepLayout, clock: datetime, size: str, n_layers: int, d_model: int, n_params: int,
           trial_id: str, phase: str, seed: int, lr: float, bs: int, status: str, stop: str, error: Optional[str],
           eval_loss: Optional[float], steps: list[int], losses: list[float]) -> None:
    steps_taken = steps[-1] if steps else 0
    tokens = steps_taken * bs * SEQ_LEN
    wall = 0.004 * steps_taken * (1 + n_params / 20_000) + 2.0
    store.write_record(layout.trials, {
        "sweep": layout.name, "trial_id": trial_id, "size": size, "n_layers": n_layers, "d_model": d_model,
        "n_params": n_params, "n_params_exact": int(n_params * 1.03), "phase": phase, "seed": seed,
        "learning_rate": float(lr), "batch_size": bs, "status": status, "stop_reason": stop, "error": error,
        "eval_loss": eval_loss, "steps": steps_taken, "tokens": tokens, "flops": 6.0 * n_params * tokens,
        "wall_seconds": wall, "started_at": clock - timedelta(seconds=wall), "finished_at": clock,
        "eval_steps": steps, "eval_losses": losses, "precision": "fp32", "backend": "torch", "workers": 1,
        "cpus_per_worker": 1, "gpus_per_worker": 0.0, "config_json": "{}",
    })
