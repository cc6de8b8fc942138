"""Tiny real models and data for the training tests (about a second per trial on one core)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import pytest

from raylaws.data import prepare
from raylaws.ladder import build_ladder
from raylaws.spec import TrainingSpec, spec_from_dict
from raylaws.train import train_trial
from raylaws.trial import Hyperparameters, Outcome, TrialHooks, TrialSettings
from tests.conftest import tiny_spec_dict

Train = Callable[..., Outcome]


def make_trainer(objective: str = "clm") -> Train:
    """``train(training=..., lr=..., batch_size=..., seed=..., hooks=..., **settings)`` on the
    smallest size of the tiny spec."""
    spec = spec_from_dict(tiny_spec_dict(objective=objective))
    size, data = build_ladder(spec)[0], prepare(spec.data)

    def train(*, training: dict | None = None, lr: float = 1e-2, batch_size: int = 8, seed: int = 0,
              hooks: TrialHooks = TrialHooks(), **settings: Any) -> Outcome:
        budget = TrainingSpec(**{"max_steps": 40, "eval_interval": 10, "warmup_steps": 5, **(training or {})})
        trial = replace(TrialSettings(objective=spec.objective, seq_len=spec.data.seq_len, training=budget), **settings)
        return train_trial(size, Hyperparameters(lr, batch_size), data, trial, seed, hooks)

    train.size, train.data = size, data  # type: ignore[attr-defined]
    train.objective, train.seq_len = spec.objective, spec.data.seq_len  # type: ignore[attr-defined]
    return train


@pytest.fixture(scope="module")
def train() -> Train:
    return make_trainer("clm")


@pytest.fixture(scope="module")
def train_mlm() -> Train:
    return make_trainer("mlm")
