"""Training on a GPU: placement, bf16 (autocast, and bf16 weights with fp32 masters), stacked
trials, fp16 with its loss scaler, DeepSpeed ZeRO-2, and several trials sharing one GPU
(fractional packing) as separate processes."""

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


def test_bf16_master_weights_learn_with_bf16_weights_and_fp32_masters(data: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    original = TorchEngine.train_step

    def checked(self, micro_batches):
        seen["weights"] = {p.dtype for p in self.model.parameters()}
        seen["masters"] = {m.dtype for m in self._masters}
        return original(self, micro_batches)

    monkeypatch.setattr(TorchEngine, "train_step", checked)
    master = settings(training={"precision": "bf16", "master_weights": True})
    outcome = train_trial(tiny_size(), HPARAMS, data, master, 0)
    assert _learned(outcome, data) and seen == {"weights": {torch.bfloat16}, "masters": {torch.float32}}


def test_stacked_members_on_the_gpu_train_as_each_trial_alone(data: Any) -> None:
    from raylaws.train import Member, train_stacked

    trial = settings(training={"max_steps": 40})
    members = [Member(Hyperparameters(lr, 32), seed) for seed, lr in enumerate([1e-2, 5e-3, 2e-2])]
    stacked = train_stacked(tiny_size(), members, data, trial)
    for member, outcome in zip(members, stacked):
        alone = train_trial(tiny_size(), member.hparams, data, trial, member.seed)
        assert [s for s, _ in outcome.history] == [s for s, _ in alone.history]
        # TF32 matmuls and batched kernels: close, not bit for bit
        assert all(abs(a - b) <= 1e-2 * b for (_, a), (_, b) in zip(outcome.history, alone.history))


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
