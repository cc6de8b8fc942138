"""Stacked trials: each member of a stack trains as the same trial alone would, to float rounding."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import pytest

from raylaws.spec import TrainingSpec
from raylaws.train import Member, train_stacked, train_trial
from raylaws.trial import (Hyperparameters, Outcome, Progress, SaveCheckpoint, Status, StopReason, TrialHooks,
                           TrialSettings)
from tests.train_tests.conftest import Train, make_trainer

RELATIVE = 1e-5  # the bar for a member against the trial alone (fp32, CPU)


def assert_same_run(stacked: Outcome, alone: Outcome) -> None:
    assert (stacked.status, stacked.stop_reason, stacked.steps) == (alone.status, alone.stop_reason, alone.steps)
    assert [s for s, _ in stacked.history] == [s for s, _ in alone.history]
    for (_, a), (_, b) in zip(stacked.history, alone.history):
        assert abs(a - b) <= RELATIVE * abs(b), (stacked.history, alone.history)


@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_each_member_trains_as_its_trial_alone(objective: str) -> None:
    train = make_trainer(objective)
    trial = settings_of(train)
    members = [Member(Hyperparameters(1e-2, 8), 0), Member(Hyperparameters(3e-3, 8), 1),
               Member(Hyperparameters(2e-2, 8), 2)]
    stacked = train_stacked(train.size, members, train.data, trial)
    for member, outcome in zip(members, stacked):
        assert_same_run(outcome, train_trial(train.size, member.hparams, train.data, trial, member.seed))
    assert len({o.eval_loss for o in stacked}) == 3  # three different runs, not one copied


def test_a_pruned_or_stopped_member_leaves_and_the_others_train_on_unchanged() -> None:
    train = make_trainer("clm")
    trial = settings_of(train, patience=10, min_delta=10.0)  # member 2 stops at its second evaluation

    def prune_at(step: int) -> TrialHooks:
        return TrialHooks(report=lambda progress, save: progress.step >= step)

    members = [Member(Hyperparameters(1e-2, 8), 0, prune_at(20)), Member(Hyperparameters(1e-2, 8), 1)]
    patient = replace(trial, training=trial.training.model_copy(update={"patience": None, "min_delta": 0.0}))
    first = train_stacked(train.size, members, train.data, trial)
    assert first[0].status is Status.PRUNED and first[0].steps == 20
    assert first[1].stop_reason is StopReason.PATIENCE and first[1].steps == 20
    # a pruned member beside a member that runs its whole budget
    pruned, full = train_stacked(train.size, [members[0], Member(Hyperparameters(5e-3, 8), 3)], train.data, patient)
    assert pruned.status is Status.PRUNED and pruned.steps == 20 and full.steps == 40
    assert_same_run(full, train_trial(train.size, Hyperparameters(5e-3, 8), train.data, patient, 3))


def test_a_members_checkpoint_resumes_alone_to_the_same_run(tmp_path: Path) -> None:
    train = make_trainer("clm")
    trial = settings_of(train, checkpoint_every=20)
    folders: dict[int, str] = {}

    def report(progress: Progress, save: Optional[SaveCheckpoint]) -> bool:
        if save is not None:
            folders[progress.step] = str(tmp_path / str(progress.step))
            os.makedirs(folders[progress.step])
            save(folders[progress.step])
        return False

    members = [Member(Hyperparameters(1e-2, 8), 0), Member(Hyperparameters(3e-3, 8), 1, TrialHooks(report=report))]
    stacked = train_stacked(train.size, members, train.data, trial)
    resumed = train_trial(train.size, members[1].hparams, train.data, trial, 1, TrialHooks(resume_from=folders[20]))
    assert resumed.resumed_from_step == 20
    assert_same_run(resumed, stacked[1])
    # and a stack resumes a member from a checkpoint an alone run wrote
    again = train_stacked(train.size, [members[0], Member(members[1].hparams, 1, TrialHooks(resume_from=folders[20]))],
                          train.data, trial)
    assert_same_run(again[1], stacked[1])
    assert_same_run(again[0], stacked[0])


def test_members_of_two_batch_sizes_are_refused() -> None:
    train = make_trainer("clm")
    with pytest.raises(ValueError, match="share a batch size"):
        train_stacked(train.size, [Member(Hyperparameters(1e-2, 8), 0), Member(Hyperparameters(1e-2, 16), 1)],
                      train.data, settings_of(train))


def settings_of(train: Train, **training: Any) -> TrialSettings:
    budget = TrainingSpec(**{"max_steps": 40, "eval_interval": 10, "warmup_steps": 5, **training})
    return TrialSettings(objective=train.objective, seq_len=train.seq_len, training=budget)


KILLED_STACK = '''
import os, signal, sys
from pathlib import Path
from raylaws.train import Member, train_stacked
from raylaws.trial import Hyperparameters, TrialHooks
from tests.train_tests.conftest import make_trainer
from tests.train_tests.test_stacked import settings_of

root = Path(sys.argv[1])
train = make_trainer("clm")


def saver(member):
    def report(progress, save):
        if save is not None:
            folder = root / str(member) / f"{progress.step:04d}"
            folder.mkdir(parents=True)
            save(str(folder))
        if member == 1 and progress.step == 30:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-run, after member 0's and 1's checkpoints at 20 and 30
        return False
    return TrialHooks(report=report)


members = [Member(Hyperparameters(lr, 8), seed, saver(seed)) for seed, lr in enumerate([1e-2, 3e-3])]
train_stacked(train.size, members, train.data, settings_of(train, checkpoint_every=10))
'''


def test_a_stack_killed_with_sigkill_resumes_each_member_from_its_checkpoint_to_the_same_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    killed = subprocess.run([sys.executable, "-c", KILLED_STACK, str(tmp_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    train = make_trainer("clm")
    trial = settings_of(train, checkpoint_every=10)
    lrs = [1e-2, 3e-3]
    latest = {seed: sorted((tmp_path / str(seed)).iterdir())[-1] for seed in (0, 1)}
    assert [p.name for p in latest.values()] == ["0030", "0030"]  # member 0 reported step 30 before member 1
    resumed = train_stacked(train.size, [Member(Hyperparameters(lrs[s], 8), s, TrialHooks(resume_from=str(latest[s])))
                                         for s in (0, 1)], train.data, trial)
    whole = train_stacked(train.size, [Member(Hyperparameters(lrs[s], 8), s) for s in (0, 1)], train.data, trial)
    for again, once in zip(resumed, whole):
        assert again.resumed_from_step == 30 and again.history == once.history  # nothing lost, nothing retrained
