"""GPU tests: skipped cleanly without CUDA. No data preparation (no ``datasets``, no tokenizer
training): a synthetic, learnable token stream."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

VOCAB, SEQ_LEN = 512, 64


def synthetic_data() -> Any:
    """A learnable stream: each token is followed by a fixed successor (a random permutation),
    so a masked token is predictable from its neighbour. uint16 ids."""
    from raylaws.data import TokenData, TokenStream

    successor = np.random.default_rng(0).permutation(np.arange(3, VOCAB))
    table = np.zeros(VOCAB, dtype=np.int64)
    table[3:] = successor
    stream = np.empty(100_000, dtype=np.uint16)
    token = 3
    for index in range(stream.size):
        stream[index] = token
        token = int(table[token]) if table[token] != token else 3
    return TokenData(train=TokenStream.from_array(stream), eval=stream[: 8 * SEQ_LEN * 4].copy(), vocab_size=VOCAB, eos_id=0, pad_id=1,
                     mask_id=2, fingerprint="synthetic", tokenizer_path="")


def tiny_size(layers: int = 2, width: int = 64) -> Any:
    from raylaws.ladder import Size, SizeResources

    return Size(name=f"L{layers}-H{width}", n_layers=layers, d_model=width, n_heads=4, d_ff=4 * width,
                n_params=12 * layers * width**2, n_params_exact=12 * layers * width**2,
                resources=SizeResources(gpus=1.0))


def settings(**overrides: Any) -> Any:
    from raylaws.spec import TrainingSpec
    from raylaws.trial import TrialSettings

    training = TrainingSpec(**{"max_steps": 200, "eval_interval": 50, "warmup_steps": 10, "schedule": "constant",
                               **overrides.pop("training", {})})
    return replace(TrialSettings(objective="mlm", seq_len=SEQ_LEN, training=training, device="cuda"), **overrides)


@pytest.fixture(scope="session")
def data() -> Any:
    return synthetic_data()
