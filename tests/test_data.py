"""Offline data: stdlib text, local files, datasets directories; deterministic split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raylaws.data import check_source, prepare
from raylaws.spec import DataSpec, SpecError

SMALL = {"tokenizer": {"kind": "bpe", "vocab_size": 300}, "seq_len": 16, "eval_tokens": 256}


def _corpus(count: int = 60) -> list[str]:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "scaling", "law", "token", "model", "loss", "size"]
    return [" ".join(rng.choice(words, size=80)) + f" doc {i}." for i in range(count)]


def test_stdlib_source_is_deterministic_and_split_by_document() -> None:
    spec = DataSpec(tokenizer={"kind": "bpe", "vocab_size": 300}, eval_tokens=1024, max_tokens=50_000)
    first, second = prepare(spec), prepare(spec)
    assert first.fingerprint == second.fingerprint
    assert np.array_equal(first.train, second.train) and np.array_equal(first.eval, second.eval)
    assert len(first.train) == 50_000 and len(first.eval) == 1024
    assert first.vocab_size == 300 and first.train.max() < 300
    assert Path(first.tokenizer_path).is_file()


def test_local_text_directory(tmp_path: Path) -> None:
    for i, text in enumerate(_corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    data = prepare(DataSpec(source=str(tmp_path), **SMALL))
    assert len(data.train) > 1000 and len(data.eval) == 256


def test_jsonl_file_reads_text_field(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps({"body": t}) for t in _corpus()))
    data = prepare(DataSpec(source=str(path), text_field="body", **SMALL))
    assert len(data.train) > 1000


def test_jsonl_without_the_field_names_it(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"other": "x"}) + "\n")
    with pytest.raises(SpecError) as caught:
        prepare(DataSpec(source=str(path), **SMALL))
    assert caught.value.problems[0].field == "data.text_field"


def test_datasets_load_from_disk_directory(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": _corpus()}).save_to_disk(str(tmp_path / "ds"))
    data = prepare(DataSpec(source=str(tmp_path / "ds"), **SMALL))
    assert len(data.train) > 1000


def test_local_tokenizer_file_is_used(tmp_path: Path) -> None:
    for i, text in enumerate(_corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    trained = prepare(DataSpec(source=str(tmp_path), **SMALL))
    reused = prepare(DataSpec(source=str(tmp_path), tokenizer={"kind": "file", "path": trained.tokenizer_path},
                              seq_len=16, eval_tokens=256))
    assert reused.vocab_size == trained.vocab_size
    assert np.array_equal(reused.train, trained.train)


def test_missing_source_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        check_source(DataSpec(source=str(tmp_path / "absent")))
    assert caught.value.problems[0].field == "data.source" and "stdlib" in caught.value.problems[0].message


def test_too_little_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("tiny")
    (tmp_path / "b.txt").write_text("text")
    with pytest.raises(SpecError):
        prepare(DataSpec(source=str(tmp_path), **SMALL))
