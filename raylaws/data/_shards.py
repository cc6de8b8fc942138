"""A preparation's files: each unit's shard, held-out ids and record, then the corpus index.

A unit's shard and held-out ids are written atomically, then its record with their hashes
(last): a killed preparation resumes from the units whose record and files match, and a
unit that is missing or does not match is encoded again. The index (:data:`INDEX`) is
written last of all; its presence marks a complete corpus.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._corpus import FORMAT, INDEX, Shard, shard_ok, write_atomic
from raylaws.data._sources import Unit, display
from raylaws.data._work import Encoded
from raylaws.spec import DataSpec

logger = logging.getLogger(__name__)


def shard_name(index: int, kind: str) -> str:
    """The name of unit ``index``'s training shard (``train``), held-out ids (``eval``) or record (``json``)."""
    return {"train": f"train-{index:05d}.bin", "eval": f"eval-{index:05d}.bin", "json": f"unit-{index:05d}.json"}[kind]


def write_unit(shards: Path, index: int, encoded: Encoded, ranks: list[int]) -> int:
    """A unit's shard and held-out ids, each written atomically, then its record (last)."""
    held = np.concatenate(encoded.held_out) if encoded.held_out else np.zeros(0, dtype=encoded.train.dtype)
    write_atomic(shards / shard_name(index, "train"), encoded.train.tobytes())
    write_atomic(shards / shard_name(index, "eval"), held.tobytes())
    record = {"tokens": int(len(encoded.train)), "sha256": hashlib.sha256(encoded.train.tobytes()).hexdigest(),
              "eval_sha256": hashlib.sha256(held.tobytes()).hexdigest(),
              "eval_lengths": [int(len(a)) for a in encoded.held_out], "eval_ranks": ranks}
    write_atomic(shards / shard_name(index, "json"), json.dumps(record).encode())
    return record["tokens"]


def unit_done(shards: Path, index: int, dtype: str) -> bool:
    """A finished unit: its record, and both its files whole and matching their hashes."""
    try:
        record = json.loads((shards / shard_name(index, "json")).read_text())
    except (OSError, ValueError):
        return False
    train = Shard(shard_name(index, "train"), record["tokens"], record["sha256"])
    held = Shard(shard_name(index, "eval"), sum(record["eval_lengths"]), record["eval_sha256"])
    return all(shard_ok(s, shards, np.dtype(dtype), verify=True) and
               (shards / s.path).stat().st_size == s.tokens * np.dtype(dtype).itemsize for s in (train, held))


class PrefixCap:
    """With ``max_tokens``: stop encoding once the units from the first on hold enough."""

    def __init__(self, max_tokens: Optional[int], units: list[Unit], shards: Path, done: set[int]) -> None:
        self.max_tokens = max_tokens
        self.order = [u.index for u in units]
        # the units a stopped preparation finished (and that passed their hash check)
        self.tokens = {i: json.loads((shards / shard_name(i, "json")).read_text())["tokens"] for i in sorted(done)}

    def add(self, index: int, tokens: int) -> None:
        self.tokens[index] = tokens

    def count_units(self) -> int:
        """How many units, from the first, the stream holds (all, or those up to the cap)."""
        total = 0
        for count, index in enumerate(self.order, start=1):
            if index not in self.tokens:
                return count - 1
            total += self.tokens[index]
            if self.max_tokens is not None and total >= self.max_tokens:
                return count
        return len(self.order)

    def reached(self) -> bool:
        return self.max_tokens is not None and sum(
            self.tokens[i] for i in self.order[:self.count_units()]) >= self.max_tokens


def eval_units(data: DataSpec, shards: Path, ranks: dict[int, list[int]], encoded: dict[int, int]) -> Iterator[int]:
    """Units not encoded (past a max_tokens cap) that hold the next held-out document, in hash
    order, while the held-out documents encoded from the first on have fewer than eval_tokens."""
    owner = {rank: unit for unit, unit_ranks in ranks.items() for rank in unit_ranks}
    while True:
        lengths: dict[int, int] = {}
        for index in list(encoded):
            record = json.loads((shards / shard_name(index, "json")).read_text())
            lengths.update(zip(record["eval_ranks"], record["eval_lengths"]))
        have = 0
        for rank in range(len(owner)):
            if rank not in lengths:
                yield owner[rank]  # the caller encodes it; then count again
                break
            have += lengths[rank]
            if have >= data.eval_tokens:
                return
        else:
            return


def write_index(data: DataSpec, folder: Path, units: list[Unit], count: int, dtype: str, vocab_size: int,
                 specials: _tokenizer.Specials) -> None:
    shards = folder / "shards"
    encoded = [u for u in units if (shards / shard_name(u.index, "json")).is_file()]
    records = [json.loads((shards / shard_name(u.index, "json")).read_text()) for u in units[:count]]
    pieces = []  # (rank, unit, offset, length)
    for unit in encoded:
        record = json.loads((shards / shard_name(unit.index, "json")).read_text())
        offset = 0
        for length, rank in zip(record["eval_lengths"], record["eval_ranks"]):
            pieces.append((rank, unit.index, offset, length))
            offset += length
    pieces.sort()  # the held-out documents in hash order, from the first, as far as eval_tokens
    pieces = [piece for _, piece in itertools.takewhile(lambda pair: pair[0] == pair[1][0], enumerate(pieces))]
    eval_parts, total = [], 0
    for _, index, offset, length in pieces:
        if total >= data.eval_tokens:
            break
        ids = np.fromfile(shards / shard_name(index, "eval"), dtype=dtype, count=length, offset=offset * np.dtype(dtype).itemsize)
        eval_parts.append(ids)
        total += length
    held = (np.concatenate(eval_parts) if eval_parts else np.zeros(0, dtype=dtype))[:data.eval_tokens]
    write_atomic(folder / "eval.bin", held.tobytes())
    train = [Shard(f"shards/{shard_name(u.index, 'train')}", r["tokens"], r["sha256"]).__dict__
             for u, r in zip(units[:count], records)]
    write_index_file(folder, data, dtype, vocab_size, specials, train,
                      Shard("eval.bin", int(len(held)), hashlib.sha256(held.tobytes()).hexdigest()).__dict__,
                      held_out_documents=len(pieces))


def write_index_file(folder: Path, data: DataSpec, dtype: str, vocab_size: int, specials: _tokenizer.Specials,
                      train: list[dict[str, Any]], held: dict[str, Any], **extra: Any) -> None:
    index = {"format": FORMAT, "source": display(data.source), "dtype": dtype, "vocab_size": vocab_size,
             "eos_id": specials.eos_id, "pad_id": specials.pad_id, "mask_id": specials.mask_id,
             "special_tokens": {"eos": specials.eos, "pad": specials.pad, "mask": specials.mask},
             "train_tokens": sum(s["tokens"] for s in train), "eval_tokens": held["tokens"],
             "shards": train, "eval": held, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    write_atomic(folder / INDEX, json.dumps(index, indent=1).encode())
    logger.info("prepared %s: %d train / %d eval tokens in %d shards", index["source"], index["train_tokens"],
                index["eval_tokens"], len(train))
