"""Trials map the shards: bounded memory, small pickles, one pull per node from object storage."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raylaws.data import prepare, publish
from raylaws.data._corpus import Shard, TokenStream
from raylaws.spec import DataSpec
from tests.data_tests.conftest import SMALL, corpus

REPO = Path(__file__).resolve().parents[2]


def test_windows_read_across_shards_like_one_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 60_000, size=n).astype(np.uint16) for n in (5, 300, 1, 700, 64)]
    for i, part in enumerate(parts):
        part.tofile(tmp_path / f"{i}.bin")
    stream = TokenStream(tmp_path, [Shard(f"{i}.bin", len(p)) for i, p in enumerate(parts)], "uint16")
    whole = np.concatenate(parts).astype(np.int64)
    starts = np.arange(0, len(whole) - 70)
    assert np.array_equal(stream.windows(starts, 70), np.stack([whole[s:s + 70] for s in starts]))
    assert np.array_equal(stream.to_numpy(), whole) and len(stream) == len(whole)
    limited = TokenStream(tmp_path, stream.shards, "uint16", limit=400)
    assert len(limited) == 400 and np.array_equal(limited.to_numpy(), whole[:400])


def test_a_stream_pickles_as_its_shard_list(tmp_path: Path) -> None:
    ids = np.arange(4_000_000, dtype=np.uint16)
    ids.tofile(tmp_path / "big.bin")
    stream = TokenStream(tmp_path, [Shard("big.bin", len(ids))], "uint16")
    stream.windows(np.array([5]), 10)  # mapped
    payload = pickle.dumps(stream)
    assert len(payload) < 2_000  # the ids stay in the file: Ray ships this to every trial
    assert np.array_equal(pickle.loads(payload).windows(np.array([7]), 3)[0], [7, 8, 9])


def test_a_trials_memory_does_not_grow_with_a_large_mapped_stream(tmp_path: Path) -> None:
    """A trial over a 300M-token stream (600 MB) draws batches with a few MB more resident."""
    count = 300_000_000
    path = tmp_path / "ids.bin"
    ids = np.memmap(path, dtype=np.uint16, mode="w+", shape=(count,))
    for start in range(0, count, 50_000_000):  # written in pieces: the test's own memory stays small
        ids[start:start + 50_000_000] = np.arange(50_000_000, dtype=np.uint64) % 50_000
    ids.flush()
    del ids
    script = f"""
import json, psutil, torch
from raylaws.data import prepare
from raylaws.spec import DataSpec
from raylaws.train._batches import Batches
process = psutil.Process()
before = process.memory_info().rss
data = prepare(DataSpec(source={str(path)!r}, tokens={{"vocab_size": 50_001, "eos_id": 50_000, "dtype": "uint16"}},
                        tokenizer={{"kind": "none"}}, seq_len=256, eval_tokens=4096))
batches = Batches(data, "clm", 256, 32, torch.Generator().manual_seed(0))
for _ in range(200):
    inputs, _ = batches.next()
print(json.dumps({{"added": process.memory_info().rss - before, "tokens": len(data.train)}}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tokens"] > 299_000_000
    assert figures["added"] < 100 * 2**20, figures  # the stream is 600 MB


def test_a_node_without_the_corpus_pulls_it_once_from_object_storage(tmp_path: Path, s3: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for i, text in enumerate(corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    data = prepare(DataSpec(source=str(tmp_path), shard_bytes=1 << 12, **SMALL))
    base, _, query = s3.partition("?")
    remote = publish(data, f"{base}/_data?{query}")
    stream = data.train.published(remote)
    stream.folder = tmp_path / "the-driver's-disk"  # as a node that never prepared it sees it
    shipped = pickle.dumps(stream)
    monkeypatch.setenv("RAYLAWS_CACHE", str(tmp_path / "other-node"))
    starts = np.array([0, 17, len(data.train) - 40])
    script = ("import pickle, sys, numpy as np\n"
              "stream = pickle.loads(sys.stdin.buffer.read())\n"
              f"print(stream.windows(np.array({starts.tolist()}), 32).sum(), stream.folder)\n")
    outputs = []
    for _ in range(2):  # two trials on that node: the first pulls, the second finds the copy
        result = subprocess.run([sys.executable, "-c", script], input=shipped, cwd=REPO, capture_output=True,
                                env={**os.environ}, timeout=120)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        outputs.append(result.stdout.decode().split())
    pulled = Path(outputs[0][1])
    assert pulled.is_relative_to(tmp_path / "other-node") and outputs[0] == outputs[1]
    assert int(outputs[0][0]) == int(data.train.windows(starts, 32).sum())
    assert (pulled / "tokenizer.json").is_file() and (pulled / "specials.json").is_file()  # for kept models
    mtimes = {p: p.stat().st_mtime_ns for p in pulled.rglob("*.bin")}
    assert len(mtimes) == len(data.train.shards) + 1  # every shard and the eval stream, once
    result = subprocess.run([sys.executable, "-c", script], input=shipped, cwd=REPO, capture_output=True,
                            env={**os.environ}, timeout=120)
    assert {p: p.stat().st_mtime_ns for p in pulled.rglob("*.bin")} == mtimes  # not pulled again


def test_a_published_shard_that_does_not_match_its_hash_is_refused(tmp_path: Path, s3: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pyarrow.fs import FileSystem

    for i, text in enumerate(corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    data = prepare(DataSpec(source=str(tmp_path), **SMALL))
    base, _, query = s3.partition("?")
    remote = publish(data, f"{base}/_corrupt?{query}")
    filesystem, root = FileSystem.from_uri(remote)
    with filesystem.open_output_stream(f"{root}/shards/train-00000.bin") as out:
        out.write(b"\x01\x00" * data.train.shards[0].tokens)
    monkeypatch.setenv("RAYLAWS_CACHE", str(tmp_path / "other-node"))
    stream = pickle.loads(pickle.dumps(data.train.published(remote)))
    stream.folder = tmp_path / "gone"
    with pytest.raises(OSError, match="does not match its hash"):
        stream.windows(np.array([0]), 8)


def test_preparation_runs_as_ray_tasks_for_object_storage(tmp_path: Path, s3: str, ray_session: object) -> None:
    from pyarrow.fs import FileSystem

    filesystem, root = FileSystem.from_uri(s3)
    texts = corpus(200)
    for i in range(4):
        with filesystem.open_output_stream(f"{root}/ray-corpus/{i}.jsonl") as out:
            out.write("".join(json.dumps({"text": t}) + "\n" for t in texts[i * 50:(i + 1) * 50]).encode())
    base, _, query = s3.partition("?")
    spec = DataSpec(source=f"{base}/ray-corpus?{query}", shard_bytes=1 << 12, **SMALL)
    import raylaws.data._pool as pool_module

    def not_here(*args: object) -> None:
        raise AssertionError("prepared on the driver, not as Ray tasks")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool_module, "_Processes", not_here)
        patch.setattr(pool_module, "_Inline", not_here)
        on_ray = prepare(spec)
    (tmp_path / "local").mkdir()
    for i in range(4):
        (tmp_path / "local" / f"{i}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n"
                                                     for t in texts[i * 50:(i + 1) * 50]))
    local = prepare(DataSpec(source=str(tmp_path / "local"), shard_bytes=1 << 12, workers=1, **SMALL))
    assert np.array_equal(on_ray.train.to_numpy(), local.train.to_numpy())
    assert len(on_ray.train.shards) > 4  # byte ranges of the objects, read by the tasks themselves


def test_a_stream_in_memory_reads_like_one_on_disk(tmp_path: Path) -> None:
    ids = np.arange(1000, dtype=np.uint16)
    ids.tofile(tmp_path / "ids.bin")
    on_disk = TokenStream(tmp_path, [Shard("ids.bin", 1000)], "uint16")
    in_memory = pickle.loads(pickle.dumps(TokenStream.from_array(ids)))
    starts = np.array([0, 5, 990])
    assert np.array_equal(in_memory.windows(starts, 10), on_disk.windows(starts, 10))


def test_a_stream_over_more_shards_than_it_keeps_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import raylaws.data._corpus as corpus_module

    monkeypatch.setattr(corpus_module, "_OPEN", 3)
    parts = [np.full(10, i, dtype=np.uint16) for i in range(8)]
    for i, part in enumerate(parts):
        part.tofile(tmp_path / f"{i}.bin")
    stream = TokenStream(tmp_path, [Shard(f"{i}.bin", 10) for i in range(8)], "uint16")
    for _ in range(3):
        assert np.array_equal(stream.to_numpy(), np.concatenate(parts))
    assert len(stream._files or {}) <= 3


def test_a_corpus_prepared_again_with_other_bytes_is_published_again(tmp_path: Path, s3: str) -> None:
    from raylaws.data._corpus import pull

    for i, text in enumerate(corpus()):
        (tmp_path / f"{i:03d}.txt").write_text(text)
    data = prepare(DataSpec(source=str(tmp_path), **SMALL))
    base, _, query = s3.partition("?")
    uri = f"{base}/_republish?{query}"
    publish(data, uri)
    shard = Path(data.folder) / data.train.shards[0].path  # same key, same size, other ids
    index_path = Path(data.folder) / "index.json"
    ids = np.fromfile(shard, dtype=np.uint16)[::-1].copy()
    ids.tofile(shard)
    index = json.loads(index_path.read_text())
    import hashlib

    index["shards"][0]["sha256"] = hashlib.sha256(ids.tobytes()).hexdigest()
    index_path.write_text(json.dumps(index))
    remote = publish(prepare(DataSpec(source=str(tmp_path), **SMALL)), uri)
    os.environ["RAYLAWS_CACHE"] = str(tmp_path / "other-node")
    pulled = pull(remote, data.fingerprint)  # every hash matches: the new shard was uploaded
    assert np.array_equal(np.fromfile(pulled / data.train.shards[0].path, dtype=np.uint16), ids)
