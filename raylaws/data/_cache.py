"""What names a prepared corpus, checking it, and the lock its preparers take turns on.

A corpus is cached under ``<cache_dir>/data/<key>`` (:func:`raylaws.data.cache_dir`); the key is a hash of the source's listing
(paths, sizes, modification times), the data spec less its run settings, and the tokenizer's
files, never of the text, so finding a prepared corpus costs a listing at any size.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._corpus import FORMAT, Shard, TokenData, read_index, shard_ok
from raylaws.data._sources import Listing
from raylaws.spec import DataSpec

# Fields of the data spec that do not change the prepared ids (left out of the cache key).
_RUN_SETTINGS = ("workers", "cache", "seq_len")


def cache_key(data: DataSpec, listing: Listing) -> str:
    """The prepared corpus' name: a hash of the listing, the data spec (less its run settings)
    and the tokenizer's files."""
    block = data.model_dump(mode="json")
    for name in _RUN_SETTINGS:
        block.pop(name, None)
    material = {"format": FORMAT, "data": block, "listing": listing.key_material(),
                "tokenizer": _tokenizer.fingerprint(data)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def verify_corpus(data: TokenData) -> bool:
    """Every shard of a prepared corpus is there and matches its hash."""
    folder = Path(data.folder)
    index = read_index(folder)
    if index is None:
        return False
    dtype = np.dtype(index["dtype"])
    return all(shard_ok(Shard(**s), folder, dtype, verify=True) for s in [*index["shards"], index["eval"]])


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock: one process at a time prepares a corpus (others wait, then find it)."""
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
