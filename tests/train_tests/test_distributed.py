"""Data parallelism without Ray: 2 processes in a gloo group train the same trial as 1.

Tolerance: relative 1e-4 on every eval loss. Both runs see the same sequences at every step
(each worker takes its half of the same global batch), so they differ only in the order of
float32 sums: each worker's gradient sums half the tokens and the all-reduce adds the halves,
the loss and the evaluation are summed over workers. That is ~1e-7 relative per step; 40 Adam
steps keep it far below 1e-4, while a wrong share (a worker seeing other data, a gradient not
averaged, a micro-batch weighted wrong) moves the losses by >1e-2.
"""

from __future__ import annotations

import pytest

from raylaws.trial import Status
from tests.train_tests._workers import run_workers
from tests.train_tests.conftest import Train

JOB = {"training": {"max_steps": 40}, "batch_size": 16, "lr": 1e-2}


@pytest.fixture(scope="module")
def two_workers() -> list[list]:
    import importlib.util

    jobs = [JOB, {**JOB, "micro_batch_size": 4}, {**JOB, "objective": "mlm"}]
    if importlib.util.find_spec("deepspeed"):
        jobs.append({**JOB, "backend": "deepspeed", "zero_stage": 2, "micro_batch_size": 4})
    return run_workers(2, jobs)


def _losses(outcome) -> list[float]:
    return [loss for _, loss in outcome.history]


def test_two_workers_agree_with_one(train: Train, two_workers: list[list]) -> None:
    reference = train(**JOB)
    for outcome in two_workers[0]:
        assert outcome.status is Status.COMPLETED and outcome.steps == reference.steps
        assert _losses(outcome) == pytest.approx(_losses(reference), rel=1e-4)


def test_every_worker_returns_the_same_outcome(two_workers: list[list]) -> None:
    for outcomes in two_workers:
        assert outcomes[0].history == outcomes[1].history and outcomes[0].status == outcomes[1].status


def test_micro_batches_accumulate_to_the_same_step(train: Train, two_workers: list[list]) -> None:
    reference = train(**JOB)
    assert _losses(two_workers[1][0]) == pytest.approx(_losses(reference), rel=1e-4)


def test_masked_lm_token_weighting_over_workers(train_mlm: Train, two_workers: list[list]) -> None:
    # BERT masks a varying number of tokens per sequence: the workers' losses are weighted by
    # their share of the global batch's masked tokens, not averaged.
    reference = train_mlm(**JOB)
    assert _losses(two_workers[2][0]) == pytest.approx(_losses(reference), rel=1e-4)


def test_deepspeed_zero2_on_two_workers_agrees_with_one(train: Train, two_workers: list[list]) -> None:
    if len(two_workers) < 4:
        pytest.skip("DeepSpeed is not installed")
    reference = train(**JOB)
    assert _losses(two_workers[3][0]) == pytest.approx(_losses(reference), rel=1e-4)
