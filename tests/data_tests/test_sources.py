"""Every source kind streams the same documents to the same ids; large files split into units."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from raylaws.data import check_source, prepare
from raylaws.data._documents import documents
from raylaws.data._sources import list_source, plan_units
from raylaws.spec import DataSpec, SpecError
from tests.data_tests.conftest import SMALL, corpus


def _jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: t}) + "\n" for t in texts))
    return path


def _all_documents(data: DataSpec) -> list[str]:
    return [d for unit in plan_units(data, list_source(data)) for d in documents(unit, data)]


def test_stdlib_source_is_deterministic_and_split_by_document() -> None:
    spec = DataSpec(tokenizer={"kind": "bpe", "vocab_size": 300}, eval_tokens=1024, max_tokens=50_000)
    first, second = prepare(spec), prepare(spec)
    assert first.fingerprint == second.fingerprint
    assert np.array_equal(first.train.to_numpy(), second.train.to_numpy()) and np.array_equal(first.eval, second.eval)
    assert len(first.train) == 50_000 and len(first.eval) == 1024
    assert first.vocab_size == 300 and first.train.to_numpy().max() < 300 and first.train.dtype == "uint16"
    assert Path(first.tokenizer_path).is_file()


def test_local_text_folder(tmp_path: Path) -> None:
    for i, text in enumerate(corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    data = prepare(DataSpec(source=str(tmp_path), **SMALL))
    assert len(data.train) > 1000 and len(data.eval) == 256


def test_jsonl_plain_gzip_zstd_and_parquet_give_the_same_ids(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import CompressedOutputStream

    texts = corpus()
    sources = {"jsonl": _jsonl(tmp_path / "corpus.jsonl", texts, "body")}
    sources["gz"] = tmp_path / "corpus.jsonl.gz"
    sources["gz"].write_bytes(gzip.compress(sources["jsonl"].read_bytes()))
    sources["zst"] = tmp_path / "corpus.jsonl.zst"
    with CompressedOutputStream(str(sources["zst"]), "zstd") as out:
        out.write(sources["jsonl"].read_bytes())
    sources["parquet"] = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"body": texts}), sources["parquet"], row_group_size=7)
    prepared = {kind: prepare(DataSpec(source=str(path), text_field="body", **SMALL)) for kind, path in sources.items()}
    reference = prepared["jsonl"]
    assert len(reference.train) > 1000
    for kind, data in prepared.items():
        assert np.array_equal(data.train.to_numpy(), reference.train.to_numpy()), kind
        assert np.array_equal(data.eval, reference.eval), kind


def test_datasets_save_to_disk_folder_and_dataset_dict(tmp_path: Path) -> None:
    import datasets

    texts = corpus()
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "ds"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts}),
                          "test": datasets.Dataset.from_dict({"text": ["other"] * 3})}).save_to_disk(str(tmp_path / "dd"))
    plain = prepare(DataSpec(source=str(tmp_path / "ds"), **SMALL))
    split = prepare(DataSpec(source=str(tmp_path / "dd"), **SMALL))
    assert len(plain.train) > 1000
    assert np.array_equal(plain.train.to_numpy(), split.train.to_numpy())  # the train split only


def test_units_of_a_large_file_hold_the_same_documents_as_one(tmp_path: Path) -> None:
    texts = corpus(200)
    lines = _jsonl(tmp_path / "corpus.jsonl", texts)
    prose = tmp_path / "book.txt"
    prose.write_text("\n\n".join(texts))
    for source, split in ((lines, "file"), (prose, "paragraph"), (prose, "line")):
        whole = DataSpec(source=str(source), txt_split=split, **SMALL)
        cut = DataSpec(source=str(source), txt_split=split, shard_bytes=1 << 16, **SMALL)
        assert len(plan_units(cut, list_source(cut))) > 1
        assert _all_documents(cut) == _all_documents(whole)
    assert _all_documents(DataSpec(source=str(prose), txt_split="paragraph", **SMALL)) == texts


@pytest.mark.parametrize("split", ["paragraph", "line", "jsonl"])
def test_any_cut_into_ranges_gives_each_document_once(tmp_path: Path, split: str) -> None:
    """Random files of short lines, blank runs (of any length, with \\r) and CRLF: every range
    size gives the documents of one whole read, each once, in order."""
    rng = np.random.default_rng(7)
    for case in range(40):
        pieces = []
        for _ in range(int(rng.integers(1, 40))):
            kind = rng.random()
            pieces.append("\n" * int(rng.integers(1, 4)) if kind < 0.3 else "\r\n" if kind < 0.4 else
                          " \n" if kind < 0.45 else
                          (json.dumps({"text": f"t{case}-{len(pieces)}"}) if split == "jsonl" else
                           "w" * int(rng.integers(1, 9))) + "\n")
        path = tmp_path / f"{case}.{'jsonl' if split == 'jsonl' else 'txt'}"
        path.write_text("".join(pieces), newline="")
        mode = "line" if split == "jsonl" else split
        whole = _all_documents(DataSpec(source=str(path), txt_split=mode, **SMALL))
        if split == "paragraph":  # the reference: runs of non-blank lines
            runs, run = [], []
            for line in path.read_bytes().decode().split("\n"):
                if line.strip():
                    run.append(line)
                elif run:
                    runs.append("\n".join(run))
                    run = []
            assert whole == runs + (["\n".join(run)] if run else [])
        for shard_bytes in (4096,):
            step = DataSpec(source=str(path), txt_split=mode, shard_bytes=shard_bytes, **SMALL)
            listing = list_source(step)
            for size in (1, 2, 3, 5, 8):  # ranges far smaller than any setting allows, by hand
                from raylaws.data._sources import Piece, Unit

                entry = listing.entries[0]
                units = [Unit(i, (Piece(entry, start, min(start + size, entry.size)),))
                         for i, start in enumerate(range(0, entry.size, size))]
                assert [d for u in units for d in documents(u, step)] == whole, (case, size)


def test_a_long_txt_file_is_cut_into_documents_at_line_ends(tmp_path: Path) -> None:
    prose = tmp_path / "book.txt"
    text = "".join(f"line {i} of a long book\n" for i in range(20_000))  # ~480 KB
    prose.write_text(text)
    data = DataSpec(source=str(prose), max_document_bytes=1 << 16, shard_bytes=1 << 17, **SMALL)
    pieces = _all_documents(data)
    assert "".join(pieces) == text  # nothing lost, nothing twice, in order
    assert len(pieces) == -(-len(text) // (1 << 16)) and all(p.endswith("\n") for p in pieces)
    assert max(len(p) for p in pieces) < (1 << 16) + 100
    assert len(plan_units(data, list_source(data))) == 4


def test_s3_sources_stream_like_local_files(tmp_path: Path, s3: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow.fs import FileSystem

    texts = corpus()
    base, _, query = s3.partition("?")
    filesystem, root = FileSystem.from_uri(s3)
    local = _jsonl(tmp_path / "corpus.jsonl", texts)
    with filesystem.open_output_stream(f"{root}/corpus/a.jsonl") as out:
        out.write(local.read_bytes())
    with filesystem.open_output_stream(f"{root}/tables/a.parquet") as out:
        pq.write_table(pa.table({"text": texts}), out)
    reference = prepare(DataSpec(source=str(local), **SMALL))
    for folder in ("corpus", "tables"):
        remote = prepare(DataSpec(source=f"{base}/{folder}?{query}", **SMALL))
        assert np.array_equal(remote.train.to_numpy(), reference.train.to_numpy()), folder


def test_an_s3_object_that_is_not_there_is_one_line(s3: str) -> None:
    base, _, query = s3.partition("?")
    with pytest.raises(SpecError) as caught:
        check_source(DataSpec(source=f"{base}/absent.jsonl?{query}"))
    assert caught.value.problems[0].field == "data.source" and "absent.jsonl" in caught.value.problems[0].message
    assert "\n" not in caught.value.problems[0].message


def test_a_jsonl_without_the_field_names_it(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"other": "x"}) + "\n")
    with pytest.raises(SpecError) as caught:
        prepare(DataSpec(source=str(path), **SMALL))
    assert caught.value.problems[0].field == "data.text_field"


def test_a_parquet_without_the_column_names_it(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": corpus()}), tmp_path / "c.parquet")
    with pytest.raises(SpecError) as caught:
        prepare(DataSpec(source=str(tmp_path / "c.parquet"), **SMALL))
    assert caught.value.problems[0].field == "data.text_field" and "body" in caught.value.problems[0].message


def test_an_empty_corpus_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("   \n")
    (tmp_path / "b.jsonl").write_text("")
    with pytest.raises(SpecError) as caught:
        prepare(DataSpec(source=str(tmp_path), **SMALL))
    assert caught.value.problems[0].field == "data.source" and "no text" in caught.value.problems[0].message


def test_a_missing_source_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        check_source(DataSpec(source=str(tmp_path / "absent")))
    assert caught.value.problems[0].field == "data.source" and "stdlib" in caught.value.problems[0].message


def test_too_little_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("tiny")
    (tmp_path / "b.txt").write_text("text")
    with pytest.raises(SpecError):
        prepare(DataSpec(source=str(tmp_path), **SMALL))
