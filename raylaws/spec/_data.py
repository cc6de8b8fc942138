"""The data spec: where the training text (or token ids) comes from and how it becomes tokens."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from raylaws.spec._base import _Frozen


class TokenizerSpec(_Frozen):
    """How text becomes token ids.

    ``kind: bpe`` trains a byte-level BPE of ``vocab_size`` tokens with the ``tokenizers``
    library on a deterministic sample of the training text (about ``sample_bytes``, documents
    chosen by their hash, so spread over the whole corpus) and caches it. ``kind: file`` loads
    a ``tokenizers`` JSON file from ``path``; ``kind: pretrained`` loads a local folder with
    ``transformers.AutoTokenizer.from_pretrained(path)`` (GPT-2's, BERT's, Llama's, as written
    by ``save_pretrained``) or a ``tokenizer.json`` file, and keeps its own end-of-text,
    padding and mask tokens where it has them. ``kind: none`` is only for a pre-tokenized
    source (``data.tokens``) with no tokenizer at hand: kept models then have no tokenizer and
    the sweep cannot finetune. Nothing is downloaded.
    """

    kind: Literal["bpe", "file", "pretrained", "none"] = "bpe"
    vocab_size: int = Field(512, ge=260, le=1_000_000)  # byte-level BPE: 256 bytes + 3 special tokens at least
    path: Optional[str] = None
    sample_bytes: int = Field(64 << 20, ge=1 << 16)  # BPE training text; the whole corpus when smaller

    @model_validator(mode="after")
    def _path_matches_kind(self) -> "TokenizerSpec":
        if self.kind in ("file", "pretrained") and not self.path:
            raise ValueError(f"kind {self.kind!r} needs 'path' (a local tokenizer.json"
                             f"{' or save_pretrained folder' if self.kind == 'pretrained' else ''})")
        return self


class TokensSpec(_Frozen):
    """A source of token ids made by another pipeline (``data.tokens``) instead of text.

    The source is a ``.bin`` file of raw ids in ``dtype`` (nanoGPT's ``prepare.py``), a
    ``.npy`` array, a folder of either, or Parquet files whose ``field`` column holds one list
    of ids per document. In a flat stream documents are separated by ``eos_id``, and the
    held-out documents are its last ones.
    """

    vocab_size: int = Field(ge=2, le=1 << 32)  # every id must be below it
    eos_id: int = Field(ge=0)  # end-of-document id
    dtype: Optional[Literal["uint16", "uint32", "int32", "int64"]] = None  # of a .bin file (.npy/Parquet carry theirs)
    field: str = "input_ids"  # the Parquet column of id lists
    pad_id: Optional[int] = Field(None, ge=0)  # default: eos_id
    mask_id: Optional[int] = Field(None, ge=0)  # needed by objective mlm

    @model_validator(mode="after")
    def _ids_in_vocabulary(self) -> "TokensSpec":
        for name in ("eos_id", "pad_id", "mask_id"):
            value = getattr(self, name)
            if value is not None and value >= self.vocab_size:
                raise ValueError(f"{name} {value} is not below vocab_size {self.vocab_size}")
        return self


class DataSpec(_Frozen):
    """Where the training text (or token ids) comes from, and how it is prepared.

    ``source`` is one of: ``stdlib`` (the Python standard library's own top-level ``.py``
    files: real text on every machine, no download); a local file or folder of ``.txt``,
    ``.jsonl`` (either also ``.gz``/``.zst``) or ``.parquet`` files; a
    ``datasets.save_to_disk`` folder; any of those as a ``pyarrow.fs`` URI (``s3://``,
    ``gs://``); ``hub:<name>`` (``datasets.load_dataset(name, streaming=True)``: needs the
    network, so no test or demo uses it); or, with ``tokens``, ids made by another pipeline.

    A ``.txt`` file becomes documents by ``txt_split``: ``file`` (one per file, a long file cut
    at the first line end after every ``max_document_bytes``), ``paragraph`` (runs of non-blank
    lines) or ``line`` (one per line).
    """

    source: str = Field("stdlib", min_length=1)
    text_field: str = "text"  # column/key holding the text, for .jsonl, Parquet and datasets
    tokenizer: TokenizerSpec = TokenizerSpec()
    tokens: Optional[TokensSpec] = None  # the source holds token ids, not text
    txt_split: Literal["file", "paragraph", "line"] = "file"
    max_document_bytes: int = Field(8 << 20, ge=1 << 10)  # txt_split file: a longer file is cut into documents
    shard_bytes: int = Field(64 << 20, ge=1 << 12)  # source bytes one task encodes into one shard
    workers: Optional[int] = Field(None, ge=1)  # preparation processes; default: this machine's cores
    cache: Optional[str] = None  # URI every node pulls prepared shards from; default: the sweep's object storage
    seq_len: int = Field(64, ge=8, le=65_536)  # tokens per training sequence
    max_tokens: Optional[int] = Field(None, ge=1_000)  # cap on the corpus size, in tokens
    eval_tokens: int = Field(8_192, ge=256)  # held-out tokens for eval loss (from held-out documents)

    @model_validator(mode="after")
    def _tokenizer_fits_source(self) -> "DataSpec":
        if self.tokens is None and self.tokenizer.kind == "none":
            raise ValueError("tokenizer kind 'none' is only for a pre-tokenized source (data.tokens); text needs "
                             "kind bpe, file or pretrained")
        if self.tokens is not None and self.tokenizer.kind == "bpe":
            raise ValueError("a pre-tokenized source (data.tokens) cannot train a BPE; give tokenizer kind "
                             "'pretrained' or 'file' (the tokenizer that made the ids) or 'none'")
        return self


__all__ = ["DataSpec", "TokenizerSpec", "TokensSpec"]
