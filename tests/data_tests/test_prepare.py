"""Preparation: once, in parallel, keyed by the listing; resumed after a kill; shards checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import raylaws.data._prepare as prepare_module
from raylaws.data import PrepareProgress, prepare, verify_corpus
from raylaws.spec import DataSpec
from tests.data_tests.conftest import corpus

REPO = Path(__file__).resolve().parents[2]


def _sharded(tmp_path: Path, files: int = 24, workers: int = 1) -> DataSpec:
    """A corpus of ``files`` jsonl files of ~40 KB, one unit (and shard) each."""
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    texts = corpus(files * 40, words=150)
    for i in range(files):
        (folder / f"{i:03d}.jsonl").write_text("".join('{"text": "%s"}\n' % t for t in texts[i * 40:(i + 1) * 40]))
    return DataSpec(source=str(folder), shard_bytes=1 << 16, workers=workers,
                    tokenizer={"kind": "bpe", "vocab_size": 300}, seq_len=16, eval_tokens=512)


def _units(data: DataSpec) -> dict[str, int]:
    shards = Path(data_folder(data)) / "shards"
    return {p.name: p.stat().st_mtime_ns for p in sorted(shards.glob("unit-*.json"))}


def data_folder(data: DataSpec) -> Path:
    from raylaws.data import cache_dir, cache_key, check_source

    return cache_dir() / "data" / cache_key(data, check_source(data))


def test_parallel_preparation_gives_the_same_ids_as_one_process(tmp_path: Path, cache: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[PrepareProgress] = []
    data = _sharded(tmp_path, workers=1)
    one = prepare(data)
    monkeypatch.setenv("RAYLAWS_CACHE", str(cache / "second"))
    two = prepare(data.model_copy(update={"workers": 2}), progress=seen.append)
    assert one.fingerprint == two.fingerprint  # workers is not part of the key
    assert np.array_equal(one.train.to_numpy(), two.train.to_numpy()) and np.array_equal(one.eval, two.eval)
    assert len(one.train.shards) == 24
    encoded = [p for p in seen if p.phase == "encode"]
    assert encoded[-1].done_units == 24 and encoded[-1].tokens == len(two.train)
    assert encoded[-1].tokens_per_second > 0 and encoded[-1].seconds_left == 0


def test_a_prepared_corpus_is_found_without_reading_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _sharded(tmp_path)
    first = prepare(data)

    def no_reading(*args: object) -> None:
        raise AssertionError("the text was read again")

    monkeypatch.setattr(prepare_module, "survey", no_reading)
    monkeypatch.setattr(prepare_module, "encode", no_reading)
    again = prepare(data)
    assert again.fingerprint == first.fingerprint
    # a changed file (size and time) is a new corpus
    path = Path(data.source) / "000.jsonl"
    path.write_text(path.read_text() + '{"text": "one more document"}\n')
    with pytest.raises(AssertionError, match="read again"):
        prepare(data)


def test_a_checked_spec_is_prepared_without_checking_its_source_again(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import raylaws.data._check as check_module
    from raylaws.data import CheckedData, check_data

    data = _sharded(tmp_path, files=4)
    checked = check_data(data)
    assert isinstance(checked, CheckedData) and checked.data == data and checked.key == data_folder(data).name

    def no_listing(*args: object) -> None:
        raise AssertionError("the source was listed again")

    with monkeypatch.context() as patch:
        patch.setattr(check_module, "list_source", no_listing)
        prepared = prepare(checked)
        assert prepare(checked).fingerprint == prepared.fingerprint == checked.key  # found, not listed
        with pytest.raises(AssertionError, match="listed again"):
            prepare(data)  # a plain spec is checked first
    assert prepare(data).fingerprint == checked.key


def test_a_killed_preparation_resumes_from_its_finished_shards(tmp_path: Path) -> None:
    data = _sharded(tmp_path, files=40)
    script = ("import time, raylaws.data._work as w\n"
              "encode = w.encode\n"
              "def slow(*a):\n    time.sleep(0.3)\n    return encode(*a)\n"
              "import raylaws.data._prepare as p\np.encode = slow\n"
              "from raylaws.spec import DataSpec\nfrom raylaws.data import prepare\n"
              f"prepare(DataSpec.model_validate_json({data.model_dump_json()!r}))\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env={**os.environ})
    shards = data_folder(data) / "shards"
    deadline = time.monotonic() + 120
    while len(list(shards.glob("unit-*.json"))) < 5 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    finished = _units(data)
    assert 5 <= len(finished) < 40 and not (data_folder(data) / "index.json").exists()
    resumed = prepare(data)
    after = _units(data)
    assert all(after[name] == mtime for name, mtime in finished.items())  # not encoded again
    assert len(after) == 40
    fresh_cache = tmp_path / "fresh"
    os.environ["RAYLAWS_CACHE"] = str(fresh_cache)
    assert np.array_equal(prepare(data).train.to_numpy(), resumed.train.to_numpy())


def test_a_missing_or_corrupt_shard_is_rebuilt(tmp_path: Path) -> None:
    data = _sharded(tmp_path)
    first = prepare(data)
    reference = first.train.to_numpy().copy()
    shards = data_folder(data) / "shards"
    before = _units(data)
    (shards / "train-00003.bin").unlink()  # missing
    with open(shards / "train-00007.bin", "r+b") as handle:  # truncated
        handle.truncate(100)
    rebuilt = prepare(data)
    after = _units(data)
    assert [n for n in after if after[n] != before[n]] == ["unit-00003.json", "unit-00007.json"]
    assert np.array_equal(rebuilt.train.to_numpy(), reference)
    with open(shards / "train-00005.bin", "r+b") as handle:  # same size, other bytes: found by the hash
        handle.seek(10)
        handle.write(b"\xff\xff")
    assert not verify_corpus(rebuilt)
    assert np.array_equal(prepare(data, verify=True).train.to_numpy(), reference)
    assert verify_corpus(prepare(data))


def test_two_processes_preparing_one_corpus_share_it(tmp_path: Path) -> None:
    data = _sharded(tmp_path, files=6)
    script = ("from raylaws.spec import DataSpec\nfrom raylaws.data import prepare\n"
              f"d = prepare(DataSpec.model_validate_json({data.model_dump_json()!r}))\n"
              "print(d.fingerprint, len(d.train), int(d.train.to_numpy().sum()))\n")
    children = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [c.communicate(timeout=300)[0] for c in children]
    assert all(c.returncode == 0 for c in children) and outputs[0] == outputs[1]
    assert len(list((Path(os.environ["RAYLAWS_CACHE"]) / "data").iterdir())) == 1


def test_a_max_tokens_cap_keeps_the_streams_first_tokens_and_the_same_held_out_documents(tmp_path: Path,
                                                                                      cache: Path) -> None:
    data = _sharded(tmp_path, files=24, workers=2)
    whole = prepare(data)
    capped_spec = data.model_copy(update={"max_tokens": 3000})
    capped = prepare(capped_spec)
    assert len(capped.train) == 3000
    assert np.array_equal(capped.train.to_numpy(), whole.train.to_numpy()[:3000])
    assert np.array_equal(capped.eval, whole.eval)  # the split does not move with the cap
    assert len(list((data_folder(capped_spec) / "shards").glob("unit-*.json"))) < 24  # not all encoded


def test_a_capped_preparation_resumed_with_a_corrupt_shard_encodes_it_again(tmp_path: Path) -> None:
    data = _sharded(tmp_path, files=24).model_copy(update={"max_tokens": 3000})
    reference = prepare(data).train.to_numpy().copy()
    shards = data_folder(data) / "shards"
    (data_folder(data) / "index.json").unlink()  # as if stopped before the end
    with open(shards / "train-00000.bin", "r+b") as handle:
        handle.seek(10)
        handle.write(b"\xff\xff")
    resumed = prepare(data)
    assert verify_corpus(resumed) and np.array_equal(resumed.train.to_numpy(), reference)
