"""Checkpoints: when they are offered, and that a resumed trial continues the same run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

from raylaws.trial import Progress, SaveCheckpoint, Status, TrialHooks
from tests.train_tests.conftest import Train


def _saving_hooks(root: Path) -> tuple[TrialHooks, dict[int, str]]:
    """Hooks that write every offered checkpoint to ``root/<step>``."""
    folders: dict[int, str] = {}

    def report(progress: Progress, save: Optional[SaveCheckpoint]) -> None:
        if save is not None:
            folder = str(root / str(progress.step))
            os.makedirs(folder)
            save(folder)
            folders[progress.step] = folder

    return TrialHooks(report=report), folders


def test_checkpoint_offered_at_first_evaluation_past_each_multiple(train: Train, tmp_path: Path) -> None:
    hooks, folders = _saving_hooks(tmp_path)
    train(training={"checkpoint_every": 15}, hooks=hooks)  # evaluations at 10, 20, 30, 40
    assert sorted(folders) == [20, 30]


def test_no_checkpoint_when_checkpoint_every_is_none(train: Train, tmp_path: Path) -> None:
    hooks, folders = _saving_hooks(tmp_path)
    train(training={"checkpoint_every": None, "max_steps": 20}, hooks=hooks)
    assert folders == {}


@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_resume_continues_the_same_run_exactly(train: Train, train_mlm: Train, tmp_path: Path, objective: str) -> None:
    run = train if objective == "clm" else train_mlm
    hooks, folders = _saving_hooks(tmp_path)
    full = run(training={"checkpoint_every": 20}, hooks=hooks)
    seen: list[Progress] = []
    resumed = run(training={"checkpoint_every": 20},
                  hooks=TrialHooks(report=lambda p, save: seen.append(p), resume_from=folders[20]))
    assert resumed.status is Status.COMPLETED and resumed.steps == 40
    assert resumed.history == full.history  # the first two from the checkpoint, the rest retrained bit for bit
    assert resumed.eval_loss == full.eval_loss
    assert resumed.resumed_from_step == 20 and resumed.started_at == full.started_at
    assert [p.step for p in seen] == [30, 40] and all(p.resumed_from_step == 20 for p in seen)


def test_resume_with_fp16_restores_the_loss_scaler(train: Train, tmp_path: Path) -> None:
    hooks, folders = _saving_hooks(tmp_path)
    full = train(training={"checkpoint_every": 20, "precision": "fp16"}, hooks=hooks)
    resumed = train(training={"checkpoint_every": 20, "precision": "fp16"},
                    hooks=TrialHooks(resume_from=folders[20]))
    assert resumed.history == full.history


def test_resume_with_bf16_master_weights_restores_the_fp32_masters(train: Train, tmp_path: Path) -> None:
    hooks, folders = _saving_hooks(tmp_path)
    settings = {"checkpoint_every": 20, "precision": "bf16", "master_weights": True}
    full = train(training=settings, hooks=hooks)
    resumed = train(training=settings, hooks=TrialHooks(resume_from=folders[20]))
    # from the bf16 weights alone the masters would restart rounded, and the run would drift
    assert resumed.history == full.history
