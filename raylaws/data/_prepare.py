"""Preparing a corpus once: survey the source's units, choose the held-out documents, make
the tokenizer, encode every unit in parallel into shards, and index them.

A corpus is found by its cache key (:mod:`raylaws.data._cache`: from the source's listing,
never its text) or prepared under it. A preparation holds one unit's ids per task and the
per-document hashes (16 bytes a document) on the driver: its memory does not grow with the
text. Shards are written unit by unit (:mod:`raylaws.data._shards`), so a killed preparation
resumes from its finished ones. Flat id files skip the encoding (:mod:`raylaws.data._flat`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._cache import locked
from raylaws.data._check import CheckedData, check_data, check_lengths
from raylaws.data._corpus import TokenData, cache_dir, open_corpus
from raylaws.data._flat import build_flat
from raylaws.data._pool import task_pool
from raylaws.data._shards import PrefixCap, eval_units, shard_name, unit_done, write_index, write_unit
from raylaws.data._sources import Listing, display, plan_units
from raylaws.data._work import Refusal, Survey, encode, survey
from raylaws.spec import DataSpec, SpecError, SpecProblem

logger = logging.getLogger(__name__)

_EVAL_CHARS_PER_TOKEN = 6  # held-out text chosen by characters: about 6 a token on code and prose


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


def prepare(data: Union[DataSpec, CheckedData], *, progress: Optional[Callable[[PrepareProgress], None]] = None,
            verify: bool = False) -> TokenData:
    """The corpus of ``data``, prepared once and cached under :func:`cache_dir`.

    A corpus prepared before is found by its listing alone (no text is read); otherwise it is
    prepared in parallel (Ray tasks where Ray is running and every node can read the source,
    else this machine's cores). ``progress`` is called every few seconds while preparing;
    ``verify`` checks every shard's hash when opening a cached corpus. ``data`` is a data spec,
    checked here (:func:`check_data`), or what :func:`check_data` returned for one: its source
    is then not listed or checked again.

    Raises:
        SpecError: bad input (a missing source or field, no text, ids beyond the vocabulary,
            too little text for ``eval_tokens``), before any shard is trusted.
    """
    checked = data if isinstance(data, CheckedData) else check_data(data)
    data, listing = checked.data, checked.listing
    folder = cache_dir() / "data" / checked.key
    found = open_corpus(folder, limit=data.max_tokens, verify=verify)
    if found is None:
        folder.mkdir(parents=True, exist_ok=True)
        with locked(folder):  # another process may be preparing the same corpus
            found = open_corpus(folder, limit=data.max_tokens, verify=verify)
            if found is None:
                if data.tokens is not None and listing.entries and listing.entries[0].fmt in ("bin", "npy"):
                    build_flat(data, listing, folder)
                else:
                    _build(data, listing, folder, progress or _log_progress)
                found = open_corpus(folder, limit=data.max_tokens)
                assert found is not None, f"the corpus just prepared in {folder} does not open"
    check_lengths(data, found)
    return found


def _build(data: DataSpec, listing: Listing, folder: Path, progress: Callable[[PrepareProgress], None]) -> None:
    units = plan_units(data, listing)
    shards = folder / "shards"
    shards.mkdir(exist_ok=True)
    tokenizer_file, specials_file = folder / "tokenizer.json", folder / "specials.json"
    have_tokenizer = data.tokens is not None or (tokenizer_file.is_file() and specials_file.is_file())
    rate = 0.0 if have_tokenizer or data.tokenizer.kind != "bpe" else min(
        1.0, data.tokenizer.sample_bytes / max(1, listing.total_bytes))
    clock = _Clock("survey", len(units), listing.total_bytes, progress)
    with task_pool(data, listing, len(units)) as pool:
        surveys: dict[int, Survey] = {}
        for unit, result in pool.run(survey, [(u, data, rate) for u in units]):
            surveys[unit.index] = _accepted(result)
            clock.done(unit.bytes, 0)
        held_out, ranks = _held_out(data, [surveys[u.index] for u in units])
        tokenizer_json, specials = _tokenizer.make(data, folder, surveys, held_out, have_tokenizer)
        vocab_size = _tokenizer.vocab_size(tokenizer_json) if tokenizer_json is not None else 0
        if data.tokens is not None:  # a given tokenizer may add special tokens past the ids' vocabulary
            vocab_size = max(vocab_size, data.tokens.vocab_size)
        dtype = "uint16" if vocab_size <= 1 << 16 else "uint32"
        for file in shards.glob(".*.tmp-*"):
            file.unlink()
        clock = _Clock("encode", len(units), listing.total_bytes, progress)
        done = {u.index for u in units if unit_done(shards, u.index, dtype)}
        todo = [u for u in units if u.index not in done]
        for unit in units:
            if unit.index in done:
                clock.done(unit.bytes, json.loads((shards / shard_name(unit.index, "json")).read_text())["tokens"])
        stop = PrefixCap(data.max_tokens, units, shards, done)
        arguments = [(u, data, tokenizer_json, held_out.get(u.index, frozenset()), specials.eos_id, dtype,
                      surveys[u.index].hashes) for u in todo]
        for unit, result in pool.run(encode, arguments, stop=stop.reached):
            encoded = _accepted(result)
            tokens = write_unit(shards, unit.index, encoded, ranks.get(unit.index, []))
            stop.add(unit.index, tokens)
            clock.done(unit.bytes, tokens)
        # Past a max_tokens cap, the units that hold the first held-out documents (in hash order)
        # are encoded too, until the eval stream has eval_tokens: the split does not move with the cap.
        for index in eval_units(data, shards, ranks, stop.tokens):
            unit = units[index]
            encoded = _accepted(encode(unit, data, tokenizer_json, held_out[index], specials.eos_id, dtype,
                                       surveys[index].hashes))
            stop.add(index, write_unit(shards, index, encoded, ranks[index]))
    write_index(data, folder, units, stop.count_units(), dtype, vocab_size, specials)


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

