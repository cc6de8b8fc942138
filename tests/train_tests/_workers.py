"""Data-parallel trials without Ray: N processes in a gloo group, each running the same jobs
in order (for the tests and the CPU cost measurement below).

    python -m tests.train_tests._workers   # CPU seconds per step: torch/DeepSpeed x 1/2 workers
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
from typing import Any


def run_workers(world: int, jobs: list[dict[str, Any]]) -> list[list[Any]]:
    """Run each job (keyword arguments of the ``train`` of
    :func:`tests.train_tests.conftest.make_trainer`, plus ``objective``) on ``world``
    processes; ``[job][rank]`` outcomes."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(world, port, jobs, folder), nprocs=world, join=True)
        results = []
        for rank in range(world):
            with open(os.path.join(folder, f"rank{rank}.pkl"), "rb") as handle:
                results.append(pickle.load(handle))
    return [[results[rank][job] for rank in range(world)] for job in range(len(jobs))]


def _worker(rank: int, world: int, port: int, jobs: list[dict[str, Any]], folder: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from tests.train_tests.conftest import make_trainer

    dist.init_process_group("gloo", rank=rank, world_size=world)
    outcomes = []
    try:
        for job in jobs:
            job = dict(job)
            outcomes.append(make_trainer(job.pop("objective", "clm"))(**job))
    finally:
        dist.destroy_process_group()
    with open(os.path.join(folder, f"rank{rank}.pkl"), "wb") as handle:
        pickle.dump(outcomes, handle)


def _measure() -> None:
    """Seconds per optimizer step on the CPU, after the first evaluation (warm)."""
    import importlib.util

    from tests.train_tests.conftest import make_trainer

    job = {"training": {"max_steps": 60, "eval_interval": 20, "warmup_steps": 5}, "batch_size": 32}
    backends = [{"backend": "torch"}]
    if importlib.util.find_spec("deepspeed"):
        backends.append({"backend": "deepspeed", "zero_stage": 0})
        backends.append({"backend": "deepspeed", "zero_stage": 2})

    def per_step(outcome: Any, seen: list) -> float:
        return (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])

    from raylaws.trial import TrialHooks

    train = make_trainer()
    for backend in backends:
        seen: list = []
        outcome = train(**job, **backend, hooks=TrialHooks(report=lambda p, s: seen.append((p.step, p.wall_seconds))))
        print(f"1 worker  {backend}: {1000 * per_step(outcome, seen):.1f} ms/step (B=32, T=32, {train.size.name})")
    for backend, outcomes in zip(backends, run_workers(2, [{**job, **b} for b in backends])):
        outcome = outcomes[0]
        print(f"2 workers {backend}: {1000 * outcome.wall_seconds / outcome.steps:.1f} ms/step incl. start "
              f"(B=32 over 2, T=32, {train.size.name})")


if __name__ == "__main__":
    _measure()
