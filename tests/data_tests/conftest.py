"""Shared pieces of the data tests: a private cache per test, a small corpus, tiny settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SMALL = {"tokenizer": {"kind": "bpe", "vocab_size": 300}, "seq_len": 16, "eval_tokens": 256}


def corpus(count: int = 60, words: int = 80) -> list[str]:
    """``count`` documents of ``words`` words, each one distinct."""
    rng = np.random.default_rng(0)
    vocabulary = ["alpha", "beta", "gamma", "delta", "scaling", "law", "token", "model", "loss", "size"]
    return [" ".join(rng.choice(vocabulary, size=words)) + f" doc {i}." for i in range(count)]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test prepares into a cache of its own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RAYLAWS_CACHE", str(folder))
    return folder


from tests.storage_tests.conftest import s3  # noqa: E402,F401 - the moto S3 server on loopback, shared
