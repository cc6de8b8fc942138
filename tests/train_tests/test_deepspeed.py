"""The DeepSpeed backend on CPU (``DS_ACCELERATOR=cpu``, gloo): the same run as the torch
backend, and a resume through the engine's own checkpoint files.

Tolerance: relative 1e-4 on every eval loss. In fp32 both backends run the same AdamW and LR
schedule on the same batches; they differ only in float32 round-off (DeepSpeed computes the
gradient norm for clipping and averages gradients over its 1-process group in its own order),
~1e-7 per step, which 40 Adam steps keep far below 1e-4. A real difference in semantics (a
missed clip, a shifted schedule, a wrong accumulation factor) moves the losses by >1e-2.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from raylaws.trial import Progress, Status, TrialHooks
from tests.train_tests.conftest import Train

pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pip install raylaws[deepspeed])")


@pytest.mark.parametrize("zero_stage", [0, 2])
def test_deepspeed_matches_torch_on_cpu(train: Train, zero_stage: int) -> None:
    reference = train(batch_size=16, micro_batch_size=8)
    outcome = train(batch_size=16, micro_batch_size=8, backend="deepspeed", zero_stage=zero_stage)
    assert outcome.status is Status.COMPLETED and outcome.steps == reference.steps
    assert [s for s, _ in outcome.history] == [s for s, _ in reference.history]
    assert [v for _, v in outcome.history] == pytest.approx([v for _, v in reference.history], rel=1e-4)


def test_deepspeed_resume_through_its_own_checkpoint(train: Train, tmp_path: Path) -> None:
    folders: dict[int, str] = {}

    def report(progress: Progress, save) -> None:
        if save is not None:
            folders[progress.step] = str(tmp_path / str(progress.step))
            os.makedirs(folders[progress.step])
            save(folders[progress.step])

    full = train(training={"checkpoint_every": 20}, backend="deepspeed", hooks=TrialHooks(report=report))
    assert (Path(folders[20]) / "deepspeed").is_dir() and (Path(folders[20]) / "trial.pt").is_file()
    resumed = train(training={"checkpoint_every": 20}, backend="deepspeed", hooks=TrialHooks(resume_from=folders[20]))
    assert resumed.resumed_from_step == 20
    assert resumed.history == full.history
