"""Ids made by another pipeline as flat ``.bin``/``.npy`` files: a corpus without encoding.

The files are mapped where they lie (a remote file is copied into the cache first) and checked
against the vocabulary once; the held-out documents are the stream's last ``eval_tokens``
ids, from a document's start. (Pre-tokenized Parquet id lists go through the usual
preparation, as documents.)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._corpus import Shard, TokenStream, write_atomic
from raylaws.data._shards import write_index_file
from raylaws.data._sources import Listing, display, filesystem
from raylaws.spec import DataSpec, SpecError, SpecProblem


def build_flat(data: DataSpec, listing: Listing, folder: Path) -> None:
    """Ids made by another pipeline as flat ``.bin``/``.npy`` files: mapped where they lie (a
    remote file is copied into the cache first), checked against the vocabulary once; the
    held-out documents are the stream's last ``eval_tokens`` ids, from a document's start."""
    from pyarrow import fs

    assert data.tokens is not None
    tokens = data.tokens
    fs_, _ = filesystem(data.source)
    local = isinstance(fs_, fs.LocalFileSystem)
    shards: list[Shard] = []
    dtype: Optional[np.dtype] = None
    (folder / "shards").mkdir(exist_ok=True)
    for number, entry in enumerate(listing.entries):
        path = Path(entry.path)
        if not local:
            path = folder / "shards" / f"source-{number:05d}{Path(entry.path).suffix}"
            if not path.is_file() or path.stat().st_size != entry.size:
                temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                fs.copy_files(entry.path, str(temporary), source_filesystem=fs_,
                              destination_filesystem=fs.LocalFileSystem())
                os.replace(temporary, path)
        if entry.fmt == "npy":
            try:
                array = np.load(path, mmap_mode="r")
            except (ValueError, OSError) as error:
                raise SpecError([SpecProblem("data.source", f"{entry.path} is not a .npy array ({error})")]) from None
            if array.ndim != 1 or array.dtype.kind not in "iu":
                raise SpecError([SpecProblem("data.source", f"{entry.path} holds a {array.dtype} array of shape "
                                                            f"{array.shape}; give a 1-D array of integer ids")])
            file_dtype, offset, count = array.dtype, int(array.offset), int(array.shape[0])
            del array
        else:
            file_dtype, offset = np.dtype(tokens.dtype), 0
            count = entry.size // file_dtype.itemsize
        if dtype is not None and file_dtype != dtype:
            raise SpecError([SpecProblem("data.source", f"{entry.path} holds {file_dtype} ids, other files {dtype}; "
                                                        "give files of one dtype")])
        dtype = file_dtype
        _check_ids(path, file_dtype, offset, count, tokens.vocab_size, entry.path)
        shards.append(Shard(str(path.absolute()) if local else f"shards/{path.name}", count, None, offset))
    assert dtype is not None
    stream_length = sum(s.tokens for s in shards)
    stream = TokenStream(folder, shards, dtype.str)
    if stream_length < 2 * data.eval_tokens:
        raise SpecError([SpecProblem("data.source", f"{display(data.source)!r} holds {stream_length:,} ids, fewer "
                                                    f"than twice data.eval_tokens ({data.eval_tokens:,})")])
    cut = stream_length - data.eval_tokens
    look = min(cut, 1 << 20)  # search back at most 1M ids for a document's start
    window = stream.windows(np.array([cut - look]), look)[0]
    ends = np.flatnonzero(window == tokens.eos_id)
    if len(ends):
        cut = cut - look + int(ends[-1]) + 1
    held = stream.windows(np.array([cut]), data.eval_tokens)[0].astype(dtype)
    train, remaining = [], cut
    for shard in shards:  # the training stream stops where the held-out documents start
        take = min(shard.tokens, remaining)
        if take:
            train.append(Shard(shard.path, take, None, shard.offset).__dict__)
        remaining -= take
    write_atomic(folder / "eval.bin", held.tobytes())
    tokenizer_json, specials = _tokenizer.make(data, folder, {}, {}, have=False)
    vocab_size = max(tokens.vocab_size, _tokenizer.vocab_size(tokenizer_json) if tokenizer_json is not None else 0)
    write_index_file(folder, data, dtype.str, vocab_size, specials, train,
                      Shard("eval.bin", int(len(held)), hashlib.sha256(held.tobytes()).hexdigest()).__dict__)


def _check_ids(path: Path, dtype: np.dtype, offset: int, count: int, vocab_size: int, name: str) -> None:
    ids = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,)) if count else np.zeros(0, dtype)
    step = 1 << 25
    for start in range(0, count, step):
        chunk = ids[start:start + step]
        low, high = int(chunk.min()), int(chunk.max())
        if low < 0 or high >= vocab_size:
            bad = high if high >= vocab_size else low
            raise SpecError([SpecProblem("data.tokens.vocab_size", f"{name} holds the id {bad}, not in [0, "
                                                                   f"{vocab_size}); give the vocabulary the ids "
                                                                   "were made with")])
