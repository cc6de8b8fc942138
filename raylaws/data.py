"""Training data, offline: documents -> a locally trained tokenizer -> cached token ids.

Sources (``data.source`` in the spec):

* ``stdlib``: the top-level ``.py`` files of this Python's standard library. Real text that
  exists on every machine, no download.
* a local ``.txt`` or ``.jsonl`` file, or a directory of them (``.jsonl`` rows read
  ``data.text_field``);
* a directory written by ``datasets.Dataset.save_to_disk`` (read with ``load_from_disk``);
* ``hub:<name>``: ``datasets.load_dataset(name)``; needs the network, so no test uses it.

The split is deterministic and by document: documents are ordered by the hash of their text
and the first ones, up to ``data.eval_tokens``, are held out for evaluation. The tokenizer is
trained on the training documents only. Everything is cached under ``$RAYLAWS_CACHE``
(default ``~/.cache/raylaws``) keyed by the inputs, so a sweep prepares its data once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from raylaws.spec import DataSpec, SpecError, SpecProblem

logger = logging.getLogger(__name__)

EOS, PAD, MASK = "<|endoftext|>", "<pad>", "<mask>"
SPECIAL_TOKENS = (EOS, PAD, MASK)
_CACHE_FORMAT = 2  # bump when the cached files change meaning


@dataclass(frozen=True)
class TokenData:
    """Token ids ready for training. Arrays are ``uint16``/``int32`` 1-D streams, documents
    separated by ``eos_id``.

    Attributes:
        train: training token stream.
        eval: held-out token stream (from held-out documents), at most ``data.eval_tokens``.
        vocab_size: tokenizer vocabulary size, special tokens included.
        eos_id, pad_id, mask_id: special token ids.
        fingerprint: hash of the inputs (source files, tokenizer settings); recorded with results.
        tokenizer_path: the tokenizer.json used.
    """

    train: np.ndarray
    eval: np.ndarray
    vocab_size: int
    eos_id: int
    pad_id: int
    mask_id: int
    fingerprint: str
    tokenizer_path: str


def cache_dir() -> Path:
    """Where prepared data is cached (``$RAYLAWS_CACHE`` or ``~/.cache/raylaws``)."""
    return Path(os.environ.get("RAYLAWS_CACHE", Path.home() / ".cache" / "raylaws"))


MAX_FILE_BYTES = 1 << 30  # one source file is read whole into memory: 1 GiB at most


def check_source(data: DataSpec) -> None:
    """Refuse a source that cannot be read, naming ``data.source`` (no work done).

    A local source must be a regular file or a directory of them (no FIFO, device or socket),
    each file at most :data:`MAX_FILE_BYTES`, and each ``.txt``/``.jsonl`` file text: UTF-8
    with no NUL byte in its first 8 KiB.
    """
    source = data.source
    if source == "stdlib" or source.startswith("hub:"):
        return
    path = _expand(source, "data.source")
    if not path.exists():
        raise SpecError([SpecProblem("data.source", f"no such file or directory {source!r}; use 'stdlib', a local "
                                                    ".txt/.jsonl file or directory, a datasets.save_to_disk "
                                                    "directory, or 'hub:<name>'")])
    if path.is_dir():
        if not _is_saved_dataset(path):
            for file in sorted(p for p in path.rglob("*") if p.suffix in {".txt", ".jsonl"}):
                _check_file(file)
    else:
        if path.suffix not in {".txt", ".jsonl", ".json"}:
            raise SpecError([SpecProblem("data.source", f"{source!r} is not a .txt or .jsonl file")])
        _check_file(path)
    if data.tokenizer.kind == "file" and not _expand(data.tokenizer.path or "", "data.tokenizer.path").is_file():
        raise SpecError([SpecProblem("data.tokenizer.path", f"no such file {data.tokenizer.path!r}; give a local "
                                                            "tokenizer.json")])


def _check_file(path: Path) -> None:
    """One source file: regular, under the size cap, and text."""
    import codecs
    import stat

    def refuse(why: str) -> SpecError:
        return SpecError([SpecProblem("data.source", f"{str(path)!r} {why}")])

    try:
        info = path.stat()
    except OSError as error:
        raise refuse(f"cannot be read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a file")
        raise refuse(f"is {kind}, not a regular file; give text files or a directory of them")
    if info.st_size > MAX_FILE_BYTES:
        raise refuse(f"is {info.st_size / 2**30:.1f} GiB, above the {MAX_FILE_BYTES / 2**30:g} GiB cap for one file; "
                     "split it into a directory of smaller files")
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as error:
        raise refuse(f"cannot be read ({error.strerror or error})") from None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        text = b"\x00" not in head
    except UnicodeDecodeError:
        text = False
    if not text:
        raise refuse("is not UTF-8 text (binary bytes in its first 8 KiB); give .txt or .jsonl text")


def _expand(path: str, field: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError as error:  # "~someone/..." for a user that does not exist
        raise SpecError([SpecProblem(field, f"cannot expand {path!r} ({error})")]) from None


def prepare(data: DataSpec) -> TokenData:
    """Read, split, tokenize and cache the corpus of ``data``; return its token streams."""
    check_source(data)
    documents = _documents(data)
    if not documents:
        raise SpecError([SpecProblem("data.source", f"{data.source!r} holds no text")])
    key = _fingerprint(data, documents)
    folder = cache_dir() / "data" / key
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        _build(data, documents, folder)
    meta = json.loads(meta_path.read_text())
    return TokenData(
        train=np.load(folder / "train.npy", mmap_mode=None),
        eval=np.load(folder / "eval.npy", mmap_mode=None),
        vocab_size=meta["vocab_size"],
        eos_id=meta["eos_id"],
        pad_id=meta["pad_id"],
        mask_id=meta["mask_id"],
        fingerprint=key,
        tokenizer_path=str(folder / "tokenizer.json"),
    )


def _documents(data: DataSpec) -> list[str]:
    source = data.source
    if source == "stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        return [_read(p) for p in sorted(root.glob("*.py"))]
    if source.startswith("hub:"):  # pragma: no cover - needs the network
        import datasets

        dataset = datasets.load_dataset(source[len("hub:"):], split="train")
        return [row for row in dataset[data.text_field] if row]
    path = Path(source).expanduser()
    if path.is_dir() and _is_saved_dataset(path):
        import datasets

        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded["train"] if "train" in loaded else next(iter(loaded.values()))
        if data.text_field not in loaded.column_names:
            raise SpecError([SpecProblem("data.text_field", f"{data.text_field!r} is not a column of {source!r}; "
                                                            f"columns: {', '.join(loaded.column_names)}")])
        return [row for row in loaded[data.text_field] if row]
    files = sorted(p for p in path.rglob("*") if p.suffix in {".txt", ".jsonl"}) if path.is_dir() else [path]
    documents: list[str] = []
    for file in files:
        if file.suffix == ".jsonl":
            documents.extend(_jsonl_texts(file, data.text_field))
        else:
            documents.append(_read(file))
    return [d for d in documents if d.strip()]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _jsonl_texts(path: Path, field: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SpecError([SpecProblem("data.source", f"{path}:{number} is not JSON ({error.msg})")]) from None
            if not isinstance(row, dict) or field not in row:
                raise SpecError([SpecProblem("data.text_field", f"{path}:{number} has no key {field!r}")])
            yield str(row[field])


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def _fingerprint(data: DataSpec, documents: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": _CACHE_FORMAT, "data": data.model_dump(mode="json")}, sort_keys=True).encode())
    for document in documents:
        digest.update(hashlib.sha256(document.encode("utf-8", "replace")).digest())
    if data.tokenizer.kind == "file":
        digest.update(Path(data.tokenizer.path or "").expanduser().read_bytes())
    return digest.hexdigest()[:20]


def _split(documents: list[str], eval_chars: int) -> tuple[list[str], list[str]]:
    """Hold out whole documents, in hash order, until about ``eval_chars`` characters."""
    ordered = sorted(documents, key=lambda d: hashlib.sha256(d.encode("utf-8", "replace")).hexdigest())
    held_out, chars = [], 0
    while ordered and chars < eval_chars and len(ordered) > 1:
        document = ordered.pop(0)
        held_out.append(document)
        chars += len(document)
    return ordered, held_out


def _build(data: DataSpec, documents: list[str], folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    # Roughly 4 characters per token on code and prose; trimmed to eval_tokens after encoding.
    train_docs, eval_docs = _split(documents, eval_chars=6 * data.eval_tokens)
    if data.tokenizer.kind == "file":
        tokenizer = Tokenizer.from_file(str(Path(data.tokenizer.path or "").expanduser()))
        tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    else:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=data.tokenizer.vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(train_docs, trainer=trainer)
    eos_id = tokenizer.token_to_id(EOS)
    train_ids = _encode(tokenizer, train_docs, eos_id, data.max_tokens)
    eval_ids = _encode(tokenizer, eval_docs, eos_id, data.eval_tokens)
    if len(eval_ids) < 2 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.eval_tokens", f"the held-out text gives only {len(eval_ids)} tokens, "
                                                         f"fewer than two sequences of {data.seq_len}; use more text "
                                                         "or a shorter seq_len")])
    if len(train_ids) < 4 * (data.seq_len + 1):
        raise SpecError([SpecProblem("data.source", f"only {len(train_ids)} training tokens; need more text")])
    vocab_size = tokenizer.get_vocab_size()
    dtype = np.uint16 if vocab_size < 2**16 else np.int32
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        scratch_path = Path(scratch)
        np.save(scratch_path / "train.npy", train_ids.astype(dtype))
        np.save(scratch_path / "eval.npy", eval_ids.astype(dtype))
        tokenizer.save(str(scratch_path / "tokenizer.json"))
        meta = {
            "vocab_size": vocab_size,
            "eos_id": eos_id,
            "pad_id": tokenizer.token_to_id(PAD),
            "mask_id": tokenizer.token_to_id(MASK),
            "train_tokens": int(len(train_ids)),
            "eval_tokens": int(len(eval_ids)),
            "train_documents": len(train_docs),
            "eval_documents": len(eval_docs),
            "source": data.source,
        }
        (scratch_path / "meta.json").write_text(json.dumps(meta, indent=2))
        # meta.json last: its presence marks a complete cache entry (several processes may race).
        for name in ("train.npy", "eval.npy", "tokenizer.json", "meta.json"):
            os.replace(scratch_path / name, folder / name)
    logger.info("prepared %s: %d train / %d eval tokens", data.source, len(train_ids), len(eval_ids))


def _encode(tokenizer: "object", documents: list[str], eos_id: int, limit: Optional[int]) -> np.ndarray:
    pieces: list[np.ndarray] = []
    total = 0
    for start in range(0, len(documents), 64):
        for encoding in tokenizer.encode_batch(documents[start:start + 64]):  # type: ignore[attr-defined]
            ids = np.asarray(encoding.ids + [eos_id], dtype=np.int64)
            pieces.append(ids)
            total += len(ids)
        if limit is not None and total >= limit:
            break
    stream = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return stream[:limit] if limit is not None else stream
