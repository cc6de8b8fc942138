"""What one preparation task does with one unit: survey its documents, then encode them.

Both run in worker processes or Ray tasks, return plain values (arrays, lists) and raise
nothing the driver cannot read: a bad input comes back as a :class:`Refusal`.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from raylaws.data._documents import documents
from raylaws.data._sources import Unit
from raylaws.spec import DataSpec, SpecError

_BATCH = 256  # documents per encode_batch call


@dataclass(frozen=True)
class Refusal:
    """A bad input met inside a task: the field and the one-line message of a SpecError."""

    field: str
    message: str


@dataclass(frozen=True)
class Survey:
    """A unit's documents without their text: ``hashes`` (the first 8 bytes of each text's
    SHA-256, which orders the held-out choice), ``sizes`` (characters, or ids), and the
    tokenizer sample ``(document index, text)``."""

    hashes: np.ndarray  # uint64
    sizes: np.ndarray  # int64
    sample: list[tuple[int, str]]
    bytes: int


@dataclass(frozen=True)
class Encoded:
    """A unit's ids: the training stream and its held-out documents, in document order."""

    train: np.ndarray
    held_out: list[np.ndarray]


def survey(unit: Unit, data: DataSpec, rate: float) -> Union[Survey, Refusal]:
    """Hash and measure every document of ``unit``; keep those whose hash falls below
    ``rate`` as the tokenizer's sample (deterministic, spread over the whole corpus)."""
    hashes, sizes, sample = [], [], []
    try:
        for number, document in enumerate(documents(unit, data)):
            digest = hashlib.sha256(_raw(document)).digest()
            hashes.append(int.from_bytes(digest[:8], "big"))
            sizes.append(len(document))
            if rate > 0 and int.from_bytes(digest[8:16], "big") < rate * 2.0 ** 64:
                sample.append((number, document))
    except SpecError as error:
        return Refusal(error.problems[0].field, error.problems[0].message)
    return Survey(np.array(hashes, dtype=np.uint64), np.array(sizes, dtype=np.int64), sample, unit.bytes)


def encode(unit: Unit, data: DataSpec, tokenizer_json: Optional[str], held_out: frozenset[int], eos_id: int,
           dtype: str, hashes: np.ndarray) -> Union[Encoded, Refusal]:
    """``unit``'s documents as ids, each followed by ``eos_id``, in the order of their texts'
    ``hashes`` (from :func:`survey`; a fixed shuffle); the documents numbered in ``held_out``
    apart, in document order. Text goes through the tokenizer in batches; pre-tokenized
    documents are checked against the vocabulary."""
    tokenizer = _tokenizer(tokenizer_json) if tokenizer_json is not None else None
    kept: list[tuple[int, np.ndarray]] = []
    held: list[np.ndarray] = []
    end = np.array([eos_id], dtype=dtype)
    try:
        stream = enumerate(documents(unit, data))
        while True:
            batch = list(itertools.islice(stream, _BATCH))
            if not batch:
                break
            if tokenizer is not None and data.tokens is None:
                ids = [e.ids for e in tokenizer.encode_batch([d for _, d in batch], add_special_tokens=False)]
            else:
                ids = [_checked(d, data) for _, d in batch]
            for (number, _), document_ids in zip(batch, ids):
                array = np.array(document_ids, dtype=dtype)
                if number in held_out:
                    held.append(np.concatenate([array, end]))
                else:
                    kept.append((number, array))
    except SpecError as error:
        return Refusal(error.problems[0].field, error.problems[0].message)
    if len(hashes) != len(kept) + len(held):
        raise RuntimeError(f"{unit} changed between its survey and its encoding ({len(hashes)} documents, then "
                           f"{len(kept) + len(held)}); prepare again")
    kept.sort(key=lambda pair: (int(hashes[pair[0]]), pair[0]))
    parts = [piece for _, array in kept for piece in (array, end)]
    return Encoded(np.concatenate(parts) if parts else np.zeros(0, dtype=dtype), held)


def _checked(ids: Any, data: DataSpec) -> Any:
    from raylaws.spec import SpecProblem

    assert data.tokens is not None
    array = np.asarray(ids)
    if array.size and (int(array.min()) < 0 or int(array.max()) >= data.tokens.vocab_size):
        raise SpecError([SpecProblem("data.tokens.vocab_size", f"an id {int(array.max())} in {data.source!r} is not "
                                                               f"below vocab_size {data.tokens.vocab_size}; give the "
                                                               "vocabulary the ids were made with")])
    if array.size and int(array[-1]) == data.tokens.eos_id:
        array = array[:-1]  # the end-of-document id is added to every document
    return array


def _raw(document: Any) -> bytes:
    if isinstance(document, str):
        return document.encode("utf-8", "replace")
    return np.asarray(document, dtype=np.int64).tobytes()


_TOKENIZERS: dict[int, Any] = {}


def _tokenizer(tokenizer_json: str) -> Any:
    """A worker's tokenizer, built once per distinct JSON."""
    from tokenizers import Tokenizer

    key = hash(tokenizer_json)
    if key not in _TOKENIZERS:
        _TOKENIZERS.clear()
        _TOKENIZERS[key] = Tokenizer.from_str(tokenizer_json)
    return _TOKENIZERS[key]


def worker_init() -> None:
    """A preparation process: one thread for the tokenizer, as many processes as cores."""
    import os

    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
