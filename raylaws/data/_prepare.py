"""Preparing a corpus once: list the source, survey it, choose the held-out documents, make
the tokenizer, encode every unit in parallel into shards, and index them.

The cache key is made from the source's listing (paths, sizes, modification times), the data
spec and the tokenizer's files, never from the text, so finding a prepared corpus costs a
listing at any size. A preparation holds one unit's ids per task and the per-document hashes
(16 bytes a document) on the driver: its memory does not grow with the text. Each unit's shard
is written atomically with its hash; a killed preparation resumes from its finished shards,
and a shard that is missing or does not match its hash is encoded again.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._corpus import (FORMAT, INDEX, Shard, TokenData, file_sha256, open_corpus, read_index, shard_ok,
                                  write_atomic)
from raylaws.data._sources import Listing, Unit, display, filesystem, first_line, list_source, plan_units
from raylaws.data._work import Encoded, Refusal, Survey, encode, survey, worker_init
from raylaws.spec import DataSpec, SpecError, SpecProblem

logger = logging.getLogger(__name__)

# Fields of the data spec that do not change the prepared ids (left out of the cache key).
_RUN_SETTINGS = ("workers", "cache", "seq_len")
_EVAL_CHARS_PER_TOKEN = 6  # held-out text chosen by characters: about 6 a token on code and prose
_SNIFF_BYTES = 8192


def cache_dir() -> Path:
    """Where prepared data is cached (``$RAYLAWS_CACHE`` or ``~/.cache/raylaws``)."""
    return Path(os.environ.get("RAYLAWS_CACHE", Path.home() / ".cache" / "raylaws"))


@dataclass(frozen=True)
class PrepareProgress:
    """Where a preparation stands: ``phase`` is ``survey`` (hashing the documents) or
    ``encode``; ``done_bytes`` of ``total_bytes`` of the source are through it."""

    phase: str
    done_units: int
    total_units: int
    done_bytes: int
    total_bytes: int
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> Optional[float]:
        if not self.done_bytes or not self.total_bytes:
            return None
        return self.seconds * (self.total_bytes - self.done_bytes) / self.done_bytes

    def line(self) -> str:
        left = self.seconds_left
        mib = self.done_bytes / 2**20
        rate = (f"{self.tokens:,} tokens at {self.tokens_per_second:,.0f}/s" if self.phase == "encode"
                else f"{mib / self.seconds if self.seconds > 0 else 0:,.0f} MiB/s")
        return (f"{self.phase} {self.done_units}/{self.total_units} units, "
                f"{mib:,.0f}/{self.total_bytes / 2**20:,.0f} MiB, {rate}"
                + (f", {left:,.0f} s left" if left is not None else ""))


def check_source(data: DataSpec) -> Listing:
    """Refuse a source or tokenizer that cannot be used, naming the field (no preparation
    work done): return the source's listing."""
    from pyarrow import fs as pafs

    _tokenizer.check(data)
    listing = list_source(data)
    fs_, _ = filesystem(data.source) if listing.hub is None else (None, "")
    # Local text is sniffed (its first 8 KiB) before a corpus is prepared; a prepared corpus,
    # or objects in a store (a request each), are not read again.
    sniff = isinstance(fs_, pafs.LocalFileSystem) and read_index(cache_dir() / "data" / cache_key(data, listing)) is None
    for entry in listing.entries:
        if data.tokens is None and entry.compression is None and entry.fmt in ("txt", "jsonl"):
            if sniff:
                _check_text(fs_, entry.path)
        elif entry.fmt == "bin":
            if data.tokens is None or data.tokens.dtype is None:
                raise SpecError([SpecProblem("data.tokens.dtype", f"{entry.path} is a .bin file of raw ids; give "
                                                                  "their dtype (uint16 or uint32)")])
            itemsize = np.dtype(data.tokens.dtype).itemsize
            if entry.size % itemsize:
                raise SpecError([SpecProblem("data.source", f"{entry.path} is {entry.size:,} bytes, not a multiple "
                                                            f"of {data.tokens.dtype}'s {itemsize}; is data.tokens.dtype "
                                                            "right?")])
    if data.tokens is not None:
        formats = {e.fmt for e in listing.entries}
        if len(formats) > 1:
            raise SpecError([SpecProblem("data.source", f"{display(data.source)!r} mixes {', '.join(sorted(formats))} "
                                                        "files; give one kind of token file")])
    return listing


def prepare(data: DataSpec, *, progress: Optional[Callable[[PrepareProgress], None]] = None,
            verify: bool = False) -> TokenData:
    """The corpus of ``data``, prepared once and cached under :func:`cache_dir`.

    A corpus prepared before is found by its listing alone (no text is read); otherwise it is
    prepared in parallel (Ray tasks where Ray is running and every node can read the source,
    else this machine's cores). ``progress`` is called every few seconds while preparing;
    ``verify`` checks every shard's hash when opening a cached corpus.

    Raises:
        SpecError: bad input (a missing source or field, no text, ids beyond the vocabulary,
            too little text for ``eval_tokens``), before any shard is trusted.
    """
    listing = check_source(data)
    key = cache_key(data, listing)
    folder = cache_dir() / "data" / key
    found = open_corpus(folder, limit=data.max_tokens, verify=verify)
    if found is None:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder):  # another process may be preparing the same corpus
            found = open_corpus(folder, limit=data.max_tokens, verify=verify)
            if found is None:
                if data.tokens is not None and listing.entries and listing.entries[0].fmt in ("bin", "npy"):
                    _build_flat(data, listing, folder)
                else:
                    _build(data, listing, folder, progress or _log_progress)
                found = open_corpus(folder, limit=data.max_tokens)
                assert found is not None, f"the corpus just prepared in {folder} does not open"
    _check_lengths(data, found)
    return found


def cache_key(data: DataSpec, listing: Listing) -> str:
    """The prepared corpus' name: a hash of the listing, the data spec (less its run settings)
    and the tokenizer's files."""
    block = data.model_dump(mode="json")
    for name in _RUN_SETTINGS:
        block.pop(name, None)
    material = {"format": FORMAT, "data": block, "listing": listing.key_material(),
                "tokenizer": _tokenizer.fingerprint(data)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def _build(data: DataSpec, listing: Listing, folder: Path, progress: Callable[[PrepareProgress], None]) -> None:
    units = plan_units(data, listing)
    shards = folder / "shards"
    shards.mkdir(exist_ok=True)
    tokenizer_file, specials_file = folder / "tokenizer.json", folder / "specials.json"
    have_tokenizer = data.tokens is not None or (tokenizer_file.is_file() and specials_file.is_file())
    rate = 0.0 if have_tokenizer or data.tokenizer.kind != "bpe" else min(
        1.0, data.tokenizer.sample_bytes / max(1, listing.total_bytes))
    clock = _Clock("survey", len(units), listing.total_bytes, progress)
    with _pool(data, listing, len(units)) as pool:
        surveys: dict[int, Survey] = {}
        for unit, result in pool.run(survey, [(u, data, rate) for u in units]):
            surveys[unit.index] = _accepted(result)
            clock.done(unit.bytes, 0)
        held_out, ranks = _held_out(data, [surveys[u.index] for u in units])
        tokenizer_json, specials = _make_tokenizer(data, folder, surveys, held_out, have_tokenizer)
        vocab_size = _vocab(tokenizer_json) if tokenizer_json is not None else 0
        if data.tokens is not None:  # a given tokenizer may add special tokens past the ids' vocabulary
            vocab_size = max(vocab_size, data.tokens.vocab_size)
        dtype = "uint16" if vocab_size <= 1 << 16 else "uint32"
        for file in shards.glob(".*.tmp-*"):
            file.unlink()
        clock = _Clock("encode", len(units), listing.total_bytes, progress)
        done = {u.index for u in units if _unit_done(shards, u.index, dtype)}
        todo = [u for u in units if u.index not in done]
        for unit in units:
            if unit.index in done:
                clock.done(unit.bytes, json.loads((shards / _name(unit.index, "json")).read_text())["tokens"])
        stop = _PrefixCap(data.max_tokens, units, shards, done)
        arguments = [(u, data, tokenizer_json, held_out.get(u.index, frozenset()), specials.eos_id, dtype,
                      surveys[u.index].hashes) for u in todo]
        for unit, result in pool.run(encode, arguments, stop=stop.reached):
            encoded = _accepted(result)
            tokens = _write_unit(shards, unit.index, encoded, ranks.get(unit.index, []))
            stop.add(unit.index, tokens)
            clock.done(unit.bytes, tokens)
        # Past a max_tokens cap, the units that hold the first held-out documents (in hash order)
        # are encoded too, until the eval stream has eval_tokens: the split does not move with the cap.
        for index in _eval_units(data, shards, ranks, stop.tokens):
            unit = units[index]
            encoded = _accepted(encode(unit, data, tokenizer_json, held_out[index], specials.eos_id, dtype,
                                       surveys[index].hashes))
            stop.add(index, _write_unit(shards, index, encoded, ranks[index]))
    _write_index(data, folder, units, stop.count_units(), dtype, vocab_size, specials)


def _eval_units(data: DataSpec, shards: Path, ranks: dict[int, list[int]], encoded: dict[int, int]) -> Iterator[int]:
    """Units not encoded (past a max_tokens cap) that hold the next held-out document, in hash
    order, while the held-out documents encoded from the first on have fewer than eval_tokens."""
    owner = {rank: unit for unit, unit_ranks in ranks.items() for rank in unit_ranks}
    while True:
        lengths: dict[int, int] = {}
        for index in list(encoded):
            record = json.loads((shards / _name(index, "json")).read_text())
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


def _accepted(result: Any) -> Any:
    if isinstance(result, Refusal):
        raise SpecError([SpecProblem(result.field, result.message)])
    return result


def _held_out(data: DataSpec, surveys: list[Survey]) -> tuple[dict[int, frozenset[int]], dict[int, list[int]]]:
    """The held-out documents: in the order of their texts' hashes, the first ones until about
    ``eval_tokens`` worth (at least one document is left to train on). Returns each unit's
    held-out document numbers, and each one's rank in that order (the eval stream's order)."""
    units = np.concatenate([np.full(len(s.hashes), i, dtype=np.int64) for i, s in enumerate(surveys)] or [np.zeros(0)])
    numbers = np.concatenate([np.arange(len(s.hashes)) for s in surveys] or [np.zeros(0)])
    hashes = np.concatenate([s.hashes for s in surveys] or [np.zeros(0, dtype=np.uint64)])
    sizes = np.concatenate([s.sizes for s in surveys] or [np.zeros(0, dtype=np.int64)])
    if len(hashes) == 0:
        raise SpecError([SpecProblem("data.source", f"{display(data.source)!r} holds no text"
                                                    f"{'' if data.tokens is None else ' (no ids)'}")])
    order = np.lexsort((numbers, units, hashes))
    target = data.eval_tokens * (_EVAL_CHARS_PER_TOKEN if data.tokens is None else 1)
    reached = np.cumsum(sizes[order]) >= target
    count = int(np.argmax(reached)) + 1 if reached.any() else len(order)
    count = min(count, len(order) - 1)
    held: dict[int, set[int]] = {}
    ranks: dict[int, list[int]] = {}
    for rank, position in enumerate(order[:count].tolist()):
        unit, number = int(units[position]), int(numbers[position])
        held.setdefault(unit, set()).add(number)
        ranks.setdefault(unit, []).append((number, rank))  # type: ignore[arg-type]
    # each unit's ranks in its documents' order (the order its held-out ids come back in)
    ordered_ranks = {u: [r for _, r in sorted(pairs)] for u, pairs in ranks.items()}  # type: ignore[misc]
    return {u: frozenset(n) for u, n in held.items()}, ordered_ranks


def _make_tokenizer(data: DataSpec, folder: Path, surveys: dict[int, Survey], held_out: dict[int, frozenset[int]],
                    have: bool) -> tuple[Optional[str], _tokenizer.Specials]:
    """The corpus' tokenizer as JSON (kept in ``folder`` so a resumed preparation uses the
    same one), and its special tokens."""
    tokenizer_file, specials_file = folder / "tokenizer.json", folder / "specials.json"
    if data.tokenizer.kind == "none":
        assert data.tokens is not None
        tokens = data.tokens
        pad = tokens.pad_id if tokens.pad_id is not None else tokens.eos_id
        mask = tokens.mask_id if tokens.mask_id is not None else tokens.eos_id
        return None, _tokenizer.Specials("", "", "", tokens.eos_id, pad, mask)
    if have and tokenizer_file.is_file():
        return tokenizer_file.read_text(), _tokenizer.Specials(**json.loads(specials_file.read_text()))
    if data.tokenizer.kind == "bpe":
        # The sample in its documents' hash order: the order does not change with the source's layout.
        sample = sorted(((int(surveys[u].hashes[n]), u, n, text) for u in sorted(surveys)
                         for n, text in surveys[u].sample if n not in held_out.get(u, frozenset())))
        tokenizer, specials = _tokenizer.train_bpe(data, (text for *_, text in sample))
    else:
        tokenizer, specials = _tokenizer.load(data)
    if data.tokens is not None and specials.eos_id != data.tokens.eos_id:
        specials = _tokenizer.Specials(specials.eos, specials.pad, specials.mask, data.tokens.eos_id,
                                       data.tokens.pad_id if data.tokens.pad_id is not None else specials.pad_id,
                                       data.tokens.mask_id if data.tokens.mask_id is not None else specials.mask_id)
    text = tokenizer.to_str()
    write_atomic(tokenizer_file, text.encode())
    write_atomic(specials_file, json.dumps(specials.__dict__).encode())
    return text, specials


def _vocab(tokenizer_json: Optional[str]) -> int:
    from tokenizers import Tokenizer

    assert tokenizer_json is not None
    return Tokenizer.from_str(tokenizer_json).get_vocab_size()


def _name(index: int, kind: str) -> str:
    return {"train": f"train-{index:05d}.bin", "eval": f"eval-{index:05d}.bin", "json": f"unit-{index:05d}.json"}[kind]


def _write_unit(shards: Path, index: int, encoded: Encoded, ranks: list[int]) -> int:
    """A unit's shard and held-out ids, each written atomically, then its record (last)."""
    held = np.concatenate(encoded.held_out) if encoded.held_out else np.zeros(0, dtype=encoded.train.dtype)
    write_atomic(shards / _name(index, "train"), encoded.train.tobytes())
    write_atomic(shards / _name(index, "eval"), held.tobytes())
    record = {"tokens": int(len(encoded.train)), "sha256": hashlib.sha256(encoded.train.tobytes()).hexdigest(),
              "eval_sha256": hashlib.sha256(held.tobytes()).hexdigest(),
              "eval_lengths": [int(len(a)) for a in encoded.held_out], "eval_ranks": ranks}
    write_atomic(shards / _name(index, "json"), json.dumps(record).encode())
    return record["tokens"]


def _unit_done(shards: Path, index: int, dtype: str) -> bool:
    """A finished unit: its record, and both its files whole and matching their hashes."""
    try:
        record = json.loads((shards / _name(index, "json")).read_text())
    except (OSError, ValueError):
        return False
    train = Shard(_name(index, "train"), record["tokens"], record["sha256"])
    held = Shard(_name(index, "eval"), sum(record["eval_lengths"]), record["eval_sha256"])
    return all(shard_ok(s, shards, np.dtype(dtype), verify=True) and
               (shards / s.path).stat().st_size == s.tokens * np.dtype(dtype).itemsize for s in (train, held))


class _PrefixCap:
    """With ``max_tokens``: stop encoding once the units from the first on hold enough."""

    def __init__(self, max_tokens: Optional[int], units: list[Unit], shards: Path, done: set[int]) -> None:
        self.max_tokens = max_tokens
        self.order = [u.index for u in units]
        # the units a stopped preparation finished (and that passed their hash check)
        self.tokens = {i: json.loads((shards / _name(i, "json")).read_text())["tokens"] for i in sorted(done)}

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


def _write_index(data: DataSpec, folder: Path, units: list[Unit], count: int, dtype: str, vocab_size: int,
                 specials: _tokenizer.Specials) -> None:
    shards = folder / "shards"
    encoded = [u for u in units if (shards / _name(u.index, "json")).is_file()]
    records = [json.loads((shards / _name(u.index, "json")).read_text()) for u in units[:count]]
    pieces = []  # (rank, unit, offset, length)
    for unit in encoded:
        record = json.loads((shards / _name(unit.index, "json")).read_text())
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
        ids = np.fromfile(shards / _name(index, "eval"), dtype=dtype, count=length, offset=offset * np.dtype(dtype).itemsize)
        eval_parts.append(ids)
        total += length
    held = (np.concatenate(eval_parts) if eval_parts else np.zeros(0, dtype=dtype))[:data.eval_tokens]
    write_atomic(folder / "eval.bin", held.tobytes())
    train = [Shard(f"shards/{_name(u.index, 'train')}", r["tokens"], r["sha256"]).__dict__
             for u, r in zip(units[:count], records)]
    _write_index_file(folder, data, dtype, vocab_size, specials, train,
                      Shard("eval.bin", int(len(held)), hashlib.sha256(held.tobytes()).hexdigest()).__dict__,
                      held_out_documents=len(pieces))


def _write_index_file(folder: Path, data: DataSpec, dtype: str, vocab_size: int, specials: _tokenizer.Specials,
                      train: list[dict[str, Any]], held: dict[str, Any], **extra: Any) -> None:
    index = {"format": FORMAT, "source": display(data.source), "dtype": dtype, "vocab_size": vocab_size,
             "eos_id": specials.eos_id, "pad_id": specials.pad_id, "mask_id": specials.mask_id,
             "special_tokens": {"eos": specials.eos, "pad": specials.pad, "mask": specials.mask},
             "train_tokens": sum(s["tokens"] for s in train), "eval_tokens": held["tokens"],
             "shards": train, "eval": held, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    write_atomic(folder / INDEX, json.dumps(index, indent=1).encode())
    logger.info("prepared %s: %d train / %d eval tokens in %d shards", index["source"], index["train_tokens"],
                index["eval_tokens"], len(train))


def _build_flat(data: DataSpec, listing: Listing, folder: Path) -> None:
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
    from raylaws.data._corpus import TokenStream

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
    tokenizer_json, specials = _make_tokenizer(data, folder, {}, {}, have=False)
    vocab_size = max(tokens.vocab_size, _vocab(tokenizer_json) if tokenizer_json is not None else 0)
    _write_index_file(folder, data, dtype.str, vocab_size, specials, train,
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


def _check_lengths(data: DataSpec, found: TokenData) -> None:
    if len(found.eval) < 2 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.eval_tokens", f"the held-out text gives only {len(found.eval)} tokens, "
                                                         f"fewer than two sequences of {data.seq_len}; use more text "
                                                         "or a shorter seq_len")])
    if len(found.train) < 4 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.source", f"only {len(found.train)} training tokens; need more text")])


def _check_text(fs_: Any, path: str) -> None:
    import codecs

    try:
        with fs_.open_input_file(path) as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise SpecError([SpecProblem("data.source", f"{path!r} cannot be read ({first_line(error)})")]) from None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        text = b"\x00" not in head
    except UnicodeDecodeError:
        text = False
    if not text:
        raise SpecError([SpecProblem("data.source", f"{path!r} is not UTF-8 text (binary bytes in its first 8 KiB); "
                                                    "give .txt or .jsonl text")])


class _Clock:
    """Calls ``progress`` at most every 5 seconds (and at the end) with tokens/s and time left."""

    def __init__(self, phase: str, units: int, total_bytes: int, progress: Callable[[PrepareProgress], None]) -> None:
        self.phase, self.units, self.total_bytes, self.progress = phase, units, total_bytes, progress
        self.started = self.last = time.monotonic()
        self.done_units = self.done_bytes = self.tokens = 0

    def done(self, unit_bytes: int, tokens: int) -> None:
        self.done_units += 1
        self.done_bytes += unit_bytes
        self.tokens += tokens
        now = time.monotonic()
        if now - self.last >= 5 or self.done_units == self.units:
            self.last = now
            self.progress(PrepareProgress(self.phase, self.done_units, self.units, self.done_bytes, self.total_bytes,
                                          self.tokens, now - self.started))


def _log_progress(progress: PrepareProgress) -> None:
    logger.info("preparing data: %s", progress.line())


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Inline:
    """Tasks run one after another in this process (one unit, or one worker)."""

    def run(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
            stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Unit, Any]]:
        for args in arguments:
            if stop():
                return
            yield args[0], function(*args)

    def close(self) -> None:
        pass


class _Tasks:
    """Tasks in flight, at most two per worker (bounded memory), results as they finish.
    Subclasses say how a task is submitted, waited for and read."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pending: dict[Any, Unit] = {}

    def run(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
            stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Unit, Any]]:
        submit = self._submitter(function)
        queue = list(arguments)
        while queue or self.pending:
            while queue and len(self.pending) < 2 * self.workers and not stop():
                args = queue.pop(0)
                self.pending[submit(*args)] = args[0]
            if not self.pending:
                return
            for handle in self._finished(list(self.pending)):
                yield self.pending.pop(handle), self._result(handle)
            if stop():
                queue.clear()

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError

    def _finished(self, handles: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _result(self, handle: Any) -> Any:
        raise NotImplementedError


class _Processes(_Tasks):
    """Tasks on this machine's cores, one process each."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        super().__init__(workers)
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=worker_init)

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args: self.executor.submit(function, *args)

    def _finished(self, handles: list[Any]) -> list[Any]:
        return list(wait(handles, return_when=FIRST_COMPLETED)[0])

    def _result(self, handle: Any) -> Any:
        return handle.result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class _RayTasks(_Tasks):
    """Tasks spread over a Ray cluster (one CPU each): every node reads the source itself."""

    def __init__(self, workers: int) -> None:
        import ray

        super().__init__(workers)
        self.ray = ray

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return self.ray.remote(num_cpus=1, max_retries=2)(function).remote

    def _finished(self, handles: list[Any]) -> list[Any]:
        return self.ray.wait(handles, num_returns=1)[0]

    def _result(self, handle: Any) -> Any:
        return self.ray.get(handle)

    def close(self) -> None:
        for ref in self.pending:  # a failed or interrupted preparation leaves no task running
            self.ray.cancel(ref, force=True)
        self.pending.clear()


@contextmanager
def _pool(data: DataSpec, listing: Listing, units: int) -> Iterator[Any]:
    """Where the tasks run: Ray tasks where Ray is running and the source is object storage
    (every node reads it), else processes on this machine (inline for a single unit)."""
    remote_source = listing.hub is None and "://" in data.source
    pool: Any
    try:
        import ray

        on_ray = ray.is_initialized() and remote_source
    except ImportError:  # pragma: no cover - ray is a dependency
        on_ray = False
    if on_ray:
        import ray

        workers = data.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pool = _RayTasks(min(workers, units))
    else:
        workers = min(data.workers or os.cpu_count() or 1, units)
        pool = _Processes(workers) if workers > 1 else _Inline()
    try:
        yield pool
    finally:
        pool.close()


def verify_corpus(data: TokenData) -> bool:
    """Every shard of a prepared corpus is there and matches its hash."""
    folder = Path(data.folder)
    index = read_index(folder)
    if index is None:
        return False
    dtype = np.dtype(index["dtype"])
    return all(shard_ok(Shard(**s), folder, dtype, verify=True) for s in [*index["shards"], index["eval"]])


__all__ = ["PrepareProgress", "cache_dir", "cache_key", "check_source", "prepare", "verify_corpus", "file_sha256"]
