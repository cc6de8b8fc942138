"""Training data: documents streamed from a source -> a tokenizer -> memory-mapped shards of ids.

Sources (``data.source`` in the spec): ``stdlib`` (this Python's standard library, no
download), local files or folders of ``.txt``/``.jsonl`` (also ``.gz``/``.zst``)/``.parquet``,
``datasets.save_to_disk`` folders, ``s3://``/``gs://`` URIs of any of those, ``hub:<name>``
(streamed; needs the network), and ids made by another pipeline (``data.tokens``: ``.bin``,
``.npy``, Parquet id lists). See :mod:`raylaws.data._sources` for what a source lists and
:mod:`raylaws.data._documents` for how its files become documents.

A spec is checked once (:func:`check_data`: the source listed, the tokenizer found, nothing
written) and what the check found goes to :func:`prepare`, which then does not list the source
again (given a plain spec, it checks it itself). A corpus is prepared once: its documents are
surveyed and encoded in parallel, a unit of about ``data.shard_bytes`` per task, into shards of uint16 ids (uint32
for a vocabulary above 65,536) under ``$RAYLAWS_CACHE/data/<key>``, where ``key`` comes from
the source's listing, the data spec and the tokenizer, never from re-reading the text. The
held-out documents are the first ones in the order of their texts' hashes, up to about
``data.eval_tokens``; the training stream is every other document, shard after shard in the
source's order, ordered by the same hash within each shard. Trials read the shards window by
window (:class:`TokenStream`); on a multi-node cluster they pull them once per node from where
the driver published them (:func:`publish`).
"""

from raylaws.data._cache import cache_key, verify_corpus
from raylaws.data._check import CheckedData, check_data, check_source
from raylaws.data._corpus import TokenData, TokenStream, cache_dir, publish, pull
from raylaws.data._prepare import PrepareProgress, prepare
from raylaws.data._tokenizer import EOS, MASK, PAD, SPECIAL_TOKENS

__all__ = ["EOS", "MASK", "PAD", "SPECIAL_TOKENS", "CheckedData", "PrepareProgress", "TokenData", "TokenStream",
           "cache_dir", "cache_key", "check_data", "check_source", "prepare", "publish", "pull", "verify_corpus"]
