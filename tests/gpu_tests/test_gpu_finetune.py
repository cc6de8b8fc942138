"""Finetuning on a GPU: a kept model loads onto the GPU with its classification head and
trains there on the offline docstring task (the stdlib corpus and tokenizer are built locally)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from raylaws.trial import Hyperparameters, Status, TrialHooks
from tests.conftest import tiny_spec_dict
from tests.gpu_tests.conftest import needs_cuda

pytestmark = [pytest.mark.gpu, needs_cuda]


def test_a_kept_model_finetunes_on_the_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from raylaws.data import prepare
    from raylaws.ladder import build_ladder
    from raylaws.spec import spec_from_dict
    from raylaws.tasks import prepare_tasks
    from raylaws.train import finetune_trial, save_model
    from raylaws.train._model import build_model
    from raylaws.trial import TrialSettings

    monkeypatch.setenv("RAYLAWS_CACHE", str(tmp_path / "cache"))
    spec = spec_from_dict(tiny_spec_dict(resources={"gpus_per_trial": 1}, finetune={
        "tasks": [{"name": "stdlib-docstring"}], "epochs": [2], "batch_size": 64}))
    size = build_ladder(spec)[-1]
    data = prepare(spec.data)
    settings = TrialSettings.for_size(spec, size)
    assert settings.device == "cuda"
    torch.manual_seed(0)
    model = build_model(spec.objective, size, vocab_size=data.vocab_size, seq_len=spec.data.seq_len,
                        special_id=data.eos_id, tie_embeddings=spec.ladder.tie_embeddings)
    save_model(model, data.tokenizer_path, tmp_path / "model")
    task = prepare_tasks(spec, data.tokenizer_path, eos_id=data.eos_id, pad_id=data.pad_id)["stdlib-docstring"]
    evaluations: list[int] = []
    torch.cuda.reset_peak_memory_stats()
    outcome = finetune_trial(str(tmp_path / "model"), task, Hyperparameters(1e-3, 64, 2), settings, spec.finetune, 0,
                             TrialHooks(report=lambda progress, save: evaluations.append(progress.step) and False))
    assert outcome.status is Status.COMPLETED and outcome.eval_loss is not None and math.isfinite(outcome.eval_loss)
    assert 0.0 <= 1 - outcome.eval_loss <= 1.0 and len(evaluations) == 2  # one evaluation per epoch
    assert torch.cuda.max_memory_allocated() > 0, "the finetuning never touched the GPU"
