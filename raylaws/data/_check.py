"""Checking a data spec before anything is prepared or written, once.

:func:`check_data` refuses a source or tokenizer that cannot be used, naming the field, and
returns what it found (:class:`CheckedData`: the source's listing and the corpus' cache key),
which :func:`raylaws.data.prepare` takes instead of the spec so the source is not listed or
checked again. :func:`check_source` is the same check, returning the listing alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from raylaws.data import _tokenizer
from raylaws.data._cache import cache_key
from raylaws.data._corpus import TokenData, cache_dir, read_index
from raylaws.data._sources import Listing, display, filesystem, first_line, list_source
from raylaws.spec import DataSpec, SpecError, SpecProblem

_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class CheckedData:
    """A data spec that passed :func:`check_data`, with what the check found: pass it to
    :func:`raylaws.data.prepare` in place of the spec (the source is then not listed again).

    Attributes:
        data: the data spec checked.
        listing: the source's listing (paths, sizes, modification times) at the check.
        key: the prepared corpus' cache key (its ``fingerprint`` once prepared).
    """

    data: DataSpec
    listing: Listing
    key: str

    def vocab_size(self) -> int:
        """The vocabulary a trial will have, known before the corpus is prepared: a given
        tokenizer's (with its special tokens), never below ``data.tokens.vocab_size``; for a
        BPE trained here, the size asked for (a small corpus may leave it a few tokens short).

        Raises:
            SpecError: a given tokenizer file that does not load (:func:`prepare` would refuse it too).
        """
        data = self.data
        if data.tokenizer.kind == "bpe":
            return data.tokenizer.vocab_size
        given = data.tokens.vocab_size if data.tokens is not None else 0
        if data.tokenizer.kind == "none":
            return given
        return max(given, _tokenizer.load(data)[0].get_vocab_size())


def check_data(data: DataSpec) -> CheckedData:
    """Refuse a source or tokenizer that cannot be used, naming the field (no preparation
    work done, nothing written): return the spec with the source's listing and cache key.

    Local text not yet prepared is sniffed (its files' first 8 KiB); a prepared corpus, or
    objects in a store (a request each), are not read.
    """
    from pyarrow import fs as pafs

    _tokenizer.check(data)
    listing = list_source(data)
    key = cache_key(data, listing)
    fs_, _ = filesystem(data.source) if listing.hub is None else (None, "")
    sniff = isinstance(fs_, pafs.LocalFileSystem) and read_index(cache_dir() / "data" / key) is None
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
    return CheckedData(data, listing, key)


def check_source(data: DataSpec) -> Listing:
    """Refuse a source or tokenizer that cannot be used, naming the field (no preparation
    work done): return the source's listing. (:func:`check_data` also returns the cache key,
    and its result can be passed to :func:`raylaws.data.prepare`.)"""
    return check_data(data).listing


def check_lengths(data: DataSpec, found: TokenData) -> None:
    """Refuse a prepared corpus too short for ``data.seq_len``: two held-out sequences, four training ones."""
    if len(found.eval) < 2 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.eval_tokens", f"the held-out text gives only {len(found.eval)} tokens, "
                                                         f"fewer than two sequences of {data.seq_len}; use more text "
                                                         "or a shorter seq_len")])
    if len(found.train) < 4 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.source", f"only {len(found.train)} training tokens; need more text")])


def _check_text(fs_: Any, path: str) -> None:
    """Refuse a file whose first 8 KiB are not UTF-8 text (NUL bytes, or bytes that do not decode)."""
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
