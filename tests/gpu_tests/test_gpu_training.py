"""Training on a GPU: placement, bf16, fp16 with its loss scaler, DeepSpeed ZeRO-2, and several
trials sharing one GPU (fractional packing) as separate processes."""

from __future__ import annotations

import math
import multiprocessing
from typing import Any

import pytest
import torch

from raylaws.train import TorchEngine, train_trial
from raylaws.trial import Hyperparameters, Status
from tests.gpu_tests.conftest import needs_cuda, settings, synthetic_data, tiny_size

pytestmark = [pytest.mark.gpu, needs_cuda]
HPARAMS = Hyperparameters(learning_rate=1e-2, batch_size=32)


def _learned(outcome: Any, data: Any) -> bool:
    return outcome.status is Status.COMPLETED and outcome.eval_loss < 0.8 * math.log(data.vocab_size)


def test_parameters_and_batches_live_on_the_gpu(data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, bool] = {}
    original = TorchEngine.train_step

    def checked(self, micro_batches):
        seen["params"] = all(p.is_cuda for p in self.model.parameters())
        seen["batches"] = all(m.inputs.is_cuda and m.labels.is_cuda for m in micro_batches)
        return original(self, micro_batches)

    monkeypatch.setattr(TorchEngine, "train_step", checked)
    outcome = train_trial(tiny_size(), HPARAMS, data, settings(training={"max_steps": 20}), 0)
    assert outcome.status is Status.COMPLETED and seen == {"params": True, "batches": True}


def test_bf16_autocast_learns(data: Any) -> None:
    assert _learned(train_trial(tiny_size(), HPARAMS, data, settings(training={"precision": "bf16"}), 0), data)


def test_fp16_with_loss_scaler_learns(data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    scales: list[float] = []
    original = TorchEngine.train_step

    def watched(self, micro_batches):
        loss = original(self, micro_batches)
        scales.append(self.scaler.get_scale())
        return loss

    monkeypatch.setattr(TorchEngine, "train_step", watched)
    outcome = train_trial(tiny_size(), HPARAMS, data, settings(training={"precision": "fp16"}), 0)
    assert _learned(outcome, data) and scales and all(math.isfinite(s) and s > 0 for s in scales)


def test_deepspeed_zero2_on_one_gpu_learns(data: Any) -> None:
    pytest.importorskip("deepspeed")
    outcome = train_trial(tiny_size(), HPARAMS, data,
                          settings(backend="deepspeed", zero_stage=2, micro_batch_size=16,
                                   training={"precision": "bf16"}), 0)
    assert _learned(outcome, data)


def _packed_trial(seed: int) -> str:
    outcome = train_trial(tiny_size(1, 32), HPARAMS, synthetic_data(), settings(training={"max_steps": 40}), seed)
    return outcome.status.value


def test_several_trials_share_one_gpu() -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        statuses = pool.map(_packed_trial, range(4))
    assert statuses == ["completed"] * 4
    assert torch.cuda.device_count() >= 1
