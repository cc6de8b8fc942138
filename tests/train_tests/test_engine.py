"""Engine details the loop relies on: no silent CPU run, fp16 skipped steps, micro-batches."""

from __future__ import annotations

import math

import pytest
import torch

from raylaws.train import CPU_SWITCH
from raylaws.trial import Status
from tests.train_tests.conftest import Train


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpus_asked_without_cuda_raise_one_line(train: Train) -> None:
    with pytest.raises(RuntimeError) as error:
        train(device="cuda")
    message = str(error.value)
    assert "\n" not in message and train.size.name in message and "sees no CUDA device" in message
    assert "gpus_per_trial: 0" in message


def test_test_switch_keeps_training_on_cpu(train: Train, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_SWITCH, "1")
    assert train(device="cuda", training={"max_steps": 10}).status is Status.COMPLETED


def test_micro_batches_give_the_same_step_as_the_whole_batch(train: Train) -> None:
    whole, micro = train(batch_size=16), train(batch_size=16, micro_batch_size=4)
    assert [v for _, v in micro.history] == pytest.approx([v for _, v in whole.history], rel=1e-4)


def test_fp16_step_with_inf_gradient_is_skipped_not_diverged(train: Train, monkeypatch: pytest.MonkeyPatch) -> None:
    from raylaws.train import TorchEngine

    original = TorchEngine.train_step
    seen: dict[str, float] = {"calls": 0}

    def poisoned(self, micro_batches):  # an inf gradient on the 3rd step, as an fp16 overflow gives
        seen["calls"] += 1
        if seen["calls"] != 3:
            return original(self, micro_batches)
        parameter = next(self.model.parameters())
        before, lr = parameter.detach().clone(), self.scheduler.get_last_lr()
        scale = self.scaler.get_scale()
        handle = parameter.register_hook(lambda grad: torch.full_like(grad, math.inf))
        try:
            loss = original(self, micro_batches)
        finally:
            handle.remove()
        assert math.isfinite(loss)
        assert self.scaler.get_scale() < scale  # the scaler saw the inf and backed off
        assert torch.equal(parameter.detach(), before) and self.scheduler.get_last_lr() == lr  # step skipped
        seen["skipped"] = 1
        return loss

    monkeypatch.setattr(TorchEngine, "train_step", poisoned)
    outcome = train(training={"precision": "fp16", "max_steps": 20})
    assert seen.get("skipped") and outcome.status is Status.COMPLETED and outcome.steps == 20


@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_bf16_master_weights_take_the_loss_in_fp32(objective: str) -> None:
    """BertForMaskedLM takes its loss in the logits' dtype; with bf16 weights the engine takes it
    in fp32 from the bf16 logits, as GPT-2's loss does."""
    import torch

    from raylaws.spec import TrainingSpec
    from raylaws.train import TorchEngine
    from raylaws.train._model import build_model
    from raylaws.trial import Hyperparameters, TrialSettings
    from tests.train_tests.conftest import make_trainer

    train = make_trainer(objective)
    training = TrainingSpec(max_steps=10, precision="bf16", master_weights=True)
    settings = TrialSettings(objective=objective, seq_len=train.seq_len, training=training)
    model = build_model(objective, train.size, vocab_size=train.data.vocab_size, seq_len=train.seq_len)
    engine = TorchEngine(model, Hyperparameters(1e-3, 4), settings, 10, torch.device("cpu"), 1)
    inputs = torch.randint(3, train.data.vocab_size, (4, train.seq_len))
    labels = inputs.clone() if objective == "clm" else torch.where(torch.rand(inputs.shape) < 0.15, inputs, -100)
    outputs = engine._forward(inputs, labels)
    assert next(engine.model.parameters()).dtype == torch.bfloat16 and outputs.logits.dtype == torch.bfloat16
    assert outputs.loss.dtype == torch.float32
    expected = torch.nn.functional.cross_entropy(
        (outputs.logits[:, :-1] if objective == "clm" else outputs.logits).float().flatten(0, 1),
        (labels[:, 1:] if objective == "clm" else labels).flatten())
    assert torch.allclose(outputs.loss, expected)
