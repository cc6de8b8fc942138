"""A trial's training loop, on real tiny models: learning, seeds, divergence, early stop."""

from __future__ import annotations

import math

import pytest

from raylaws.data import prepare
from raylaws.ladder import build_ladder
from raylaws.spec import TrainingSpec, spec_from_dict
from raylaws.train import Hyperparameters, Progress, train_trial
from tests.conftest import tiny_spec_dict


@pytest.fixture(scope="module")
def setup() -> tuple:
    spec = spec_from_dict(tiny_spec_dict())
    return spec, build_ladder(spec)[0], prepare(spec.data)


def _train(setup: tuple, *, training: dict | None = None, lr: float = 1e-2, seed: int = 0, **kwargs):
    spec, rung, data = setup
    budget = TrainingSpec(**{"max_steps": 40, "eval_interval": 10, "warmup_steps": 5, **(training or {})})
    return train_trial(rung, Hyperparameters(lr, 8), data, budget, objective=spec.objective,
                       seq_len=spec.data.seq_len, seed=seed, threads=1, **kwargs)


def test_training_lowers_eval_loss_below_uniform(setup: tuple) -> None:
    outcome = _train(setup)
    assert outcome.status == "completed" and outcome.stop_reason == "budget"
    assert outcome.steps == 40 and outcome.tokens == 40 * 8 * 32
    assert outcome.eval_loss < math.log(setup[2].vocab_size)
    assert [step for step, _ in outcome.history] == [10, 20, 30, 40]
    assert outcome.eval_loss == min(loss for _, loss in outcome.history)


def test_same_seed_same_result_other_seed_differs(setup: tuple) -> None:
    first, again, other = _train(setup, seed=3), _train(setup, seed=3), _train(setup, seed=4)
    assert first.history == again.history
    assert first.history != other.history


def test_huge_learning_rate_ends_as_diverged(setup: tuple) -> None:
    outcome = _train(setup, lr=50.0, training={"grad_clip": None})
    assert outcome.status == "diverged"


def test_patience_stops_early_and_keeps_best(setup: tuple) -> None:
    # A learning rate of ~0 never improves on the first evaluation by min_delta.
    outcome = _train(setup, lr=1e-9, training={"max_steps": 200, "patience": 20, "min_delta": 0.5})
    assert outcome.status == "completed" and outcome.stop_reason == "patience"
    assert outcome.steps == 30  # best at step 10, no improvement through step 30
    assert outcome.eval_loss == outcome.history[0][1]


def test_report_returning_true_prunes(setup: tuple) -> None:
    seen: list[Progress] = []

    def report(progress: Progress) -> bool:
        seen.append(progress)
        return progress.step >= 20

    outcome = _train(setup, report=report)
    assert outcome.status == "pruned" and outcome.steps == 20
    assert [p.step for p in seen] == [10, 20]
    assert seen[-1].best_eval_loss == outcome.eval_loss


def test_token_budget_sets_steps_by_batch_size(setup: tuple) -> None:
    outcome = _train(setup, training={"max_steps": None, "max_tokens": 8 * 32 * 25})
    assert outcome.steps == 25


def test_masked_lm_objective_trains(setup: tuple) -> None:
    spec = spec_from_dict(tiny_spec_dict(objective="mlm"))
    rung, data = build_ladder(spec)[0], prepare(spec.data)
    outcome = train_trial(rung, Hyperparameters(1e-2, 8), data, TrainingSpec(max_steps=30, eval_interval=10),
                          objective="mlm", seq_len=spec.data.seq_len, seed=0, threads=1)
    assert outcome.status == "completed" and outcome.eval_loss < math.log(data.vocab_size)


def test_resume_from_checkpoint_continues_the_same_run(setup: tuple) -> None:
    states: list[dict] = []
    full = _train(setup, checkpoint=states.append)
    resumed = _train(setup, resume=states[1])  # from step 20
    assert resumed.steps == 40
    assert resumed.history[:2] == full.history[:2]
    assert resumed.history[-1][1] == pytest.approx(full.history[-1][1], rel=1e-5)
