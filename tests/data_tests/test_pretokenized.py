"""Ids made by another pipeline: nanoGPT-style .bin memmaps, .npy arrays, Parquet id lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raylaws.data import check_source, prepare
from raylaws.spec import DataSpec, SpecError

VOCAB, EOS = 1000, 999


def _stream(documents: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pieces = [np.append(rng.integers(0, EOS, size=rng.integers(5, 60)), EOS) for _ in range(documents)]
    return np.concatenate(pieces).astype(np.uint16)


def _tokens(dtype: str = "uint16") -> dict[str, object]:
    return {"tokens": {"vocab_size": VOCAB, "eos_id": EOS, "dtype": dtype}, "tokenizer": {"kind": "none"},
            "seq_len": 16, "eval_tokens": 512}


def test_a_bin_file_is_mapped_where_it_lies_and_its_last_documents_held_out(tmp_path: Path) -> None:
    ids = _stream()
    path = tmp_path / "train.bin"
    ids.tofile(path)
    data = prepare(DataSpec(source=str(path), **_tokens()))
    assert data.train.shards[0].path == str(path)  # not copied
    assert data.vocab_size == VOCAB and data.eos_id == EOS and data.tokenizer_path == ""
    cut = len(data.train)
    assert np.array_equal(data.train.to_numpy(), ids[:cut]) and np.array_equal(data.eval, ids[cut:cut + 512])
    assert ids[cut - 1] == EOS  # the held-out part starts at a document
    assert len(data.eval) == 512


def test_npy_and_folders_of_bin_files_read_as_one_stream(tmp_path: Path) -> None:
    ids = _stream()
    np.save(tmp_path / "ids.npy", ids.astype(np.uint32))
    folder = tmp_path / "bins"
    folder.mkdir()
    half = len(ids) // 2
    ids[:half].tofile(folder / "a.bin")
    ids[half:].tofile(folder / "b.bin")
    from_npy = prepare(DataSpec(source=str(tmp_path / "ids.npy"), **_tokens()))
    from_bins = prepare(DataSpec(source=str(folder), **_tokens()))
    assert np.array_equal(from_npy.train.to_numpy(), from_bins.train.to_numpy())
    assert np.array_equal(from_npy.eval, from_bins.eval)
    windows = from_bins.train.windows(np.array([half - 3]), 8)  # across the two files
    assert np.array_equal(windows[0], ids[half - 3:half + 5])


def test_parquet_id_lists_become_shards(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    rows = [rng.integers(0, EOS, size=rng.integers(5, 60)).tolist() for _ in range(300)]
    pq.write_table(pa.table({"input_ids": rows}), tmp_path / "ids.parquet", row_group_size=50)
    data = prepare(DataSpec(source=str(tmp_path / "ids.parquet"), **_tokens()))
    stream = data.train.to_numpy().tolist()
    assert stream[-1] == EOS and len(data.eval) == 512
    documents = []
    while stream:  # every training document is a row, then eos
        end = stream.index(EOS)
        documents.append(tuple(stream[:end]))
        stream = stream[end + 1:]
    assert set(documents) <= {tuple(r) for r in rows} and len(documents) > 250


def test_the_tokenizer_that_made_the_ids_is_kept(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(["some text"] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    ids = (_stream() % 290).astype(np.uint16)
    ids[ids == 289] = 0
    eos = tokenizer.token_to_id("<|endoftext|>")
    ids.tofile(tmp_path / "ids.bin")
    data = prepare(DataSpec(source=str(tmp_path / "ids.bin"), tokens={"vocab_size": 300, "eos_id": eos,
                                                                      "dtype": "uint16"},
                            tokenizer={"kind": "pretrained", "path": str(tmp_path / "tokenizer.json")},
                            seq_len=16, eval_tokens=512))
    assert Path(data.tokenizer_path).is_file() and data.eos_id == eos
    kept = Tokenizer.from_file(data.tokenizer_path)
    assert kept.token_to_id("<pad>") is not None and kept.token_to_id("<mask>") is not None  # added for trials
    assert data.vocab_size == max(300, kept.get_vocab_size())


@pytest.mark.parametrize("case", ["size", "beyond", "dtype", "mixed", "npy shape"])
def test_bad_token_files_are_refused_naming_the_field(tmp_path: Path, case: str) -> None:
    path = tmp_path / "ids.bin"
    spec = _tokens()
    field = "data.source"
    if case == "size":
        path.write_bytes(b"\0" * 4001)
    elif case == "beyond":
        ids = _stream()
        ids[100] = VOCAB + 5
        ids.tofile(path)
        field = "data.tokens.vocab_size"
    elif case == "dtype":
        _stream().tofile(path)
        spec = {**spec, "tokens": {"vocab_size": VOCAB, "eos_id": EOS}}
        field = "data.tokens.dtype"
    elif case == "mixed":
        path = tmp_path / "folder"
        path.mkdir()
        _stream().tofile(path / "a.bin")
        np.save(path / "b.npy", _stream())
    else:
        path = tmp_path / "ids.npy"
        np.save(path, np.zeros((10, 10), dtype=np.uint16))
    with pytest.raises(SpecError) as caught:
        check_source(DataSpec(source=str(path), **spec))
        prepare(DataSpec(source=str(path), **spec))
    problem = caught.value.problems[0]
    assert problem.field == field and "\n" not in problem.message, problem


def test_text_settings_that_do_not_fit_ids_are_refused_at_load() -> None:
    with pytest.raises(ValueError, match="cannot train a BPE"):
        DataSpec(source="x.bin", tokens={"vocab_size": VOCAB, "eos_id": EOS, "dtype": "uint16"})
    with pytest.raises(ValueError, match="not below vocab_size"):
        DataSpec(source="x.bin", tokens={"vocab_size": 10, "eos_id": 10, "dtype": "uint16"}, tokenizer={"kind": "none"})
