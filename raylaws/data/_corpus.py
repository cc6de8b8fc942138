"""A prepared corpus on disk, and the token streams trials read from it window by window.

A prepared corpus is a folder ``<cache>/data/<key>/``::

    index.json           written last: its presence marks a complete corpus
    shards/train-00000.bin ...   the training stream, raw ids in ``dtype``, in unit order
    eval.bin             the held-out stream
    tokenizer.json       the tokenizer the ids were made with (absent for kind: none)
    specials.json        its end-of-text, padding and mask tokens

``index.json`` lists every shard with its token count and SHA-256. Opening a corpus checks
that every shard is there with its size (cheap at any corpus size); a node that pulls the
corpus from object storage checks every hash. A pre-tokenized local ``.bin``/``.npy`` is not
copied: its shard entry points at the file itself.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

INDEX = "index.json"
FORMAT = 3  # bump when the prepared files change meaning
_OPEN = 256  # files a stream keeps open at most


@dataclass(frozen=True)
class Shard:
    """One memory-mapped piece of a stream: ``tokens`` ids of ``dtype`` from byte ``offset``
    of ``path`` (absolute, or relative to the corpus folder)."""

    path: str
    tokens: int
    sha256: Optional[str] = None
    offset: int = 0

    def resolved(self, folder: Path) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else folder / path


class TokenStream:
    """A read-only stream of token ids over shard files, read window by window.

    Nothing is read until a window is drawn, and then only that window: each is one positioned
    read (``pread``) through the operating system's page cache, so a trial's resident memory
    does not grow with the corpus nor with how long it trains (a memory map would keep every
    page it ever touched, plus the kernel's fault-around, in the trial's RSS), and the trials
    of one node share the page cache's one copy. Pickling it (Ray ships it to every trial)
    carries the shard list, not the ids. On a node that lacks the corpus, the first window
    pulls it from ``remote`` (:func:`pull`).
    """

    def __init__(self, folder: Path, shards: list[Shard], dtype: str, *, limit: Optional[int] = None,
                 remote: Optional[str] = None, key: str = "") -> None:
        self.folder = Path(folder)
        self.shards = list(shards)
        self.dtype = dtype
        self.remote = remote
        self.key = key
        total = sum(s.tokens for s in self.shards)
        self._length = min(total, limit) if limit is not None else total
        self._starts = np.cumsum([0] + [s.tokens for s in self.shards])[:-1].tolist()
        self._files: Optional[dict[int, int]] = None  # shard -> open descriptor (at most _OPEN)
        self._memory: Optional[np.ndarray] = None  # a stream held in memory (from_array)

    @classmethod
    def from_array(cls, ids: np.ndarray) -> "TokenStream":
        """A stream over ids already in memory (synthetic data, tests); pickled with its ids."""
        stream = cls(Path("."), [Shard("<memory>", len(ids))], np.asarray(ids).dtype.str)
        stream._memory = np.asarray(ids)
        return stream

    def published(self, remote: str) -> "TokenStream":
        """This stream, read on nodes that lack it from the copy published at ``remote``."""
        import copy

        stream = copy.copy(self)
        stream.remote, stream._files = remote, None
        return stream

    def __len__(self) -> int:
        return self._length

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = None  # the paths travel, not the ids nor the descriptors
        return state

    def __del__(self) -> None:
        self._close()

    def _close(self) -> None:
        for descriptor in (self._files or {}).values():
            try:
                os.close(descriptor)
            except OSError:
                pass
        self._files = {}

    def _opened(self) -> dict[int, int]:
        if self._files is None:
            if self.remote is not None and not all(s.resolved(self.folder).exists() for s in self.shards):
                self.folder = pull(self.remote, self.key)
                index = read_index(self.folder) or {}
                self.shards = [Shard(**s) for s in index.get("shards", [])]
            self._files = {}
        return self._files

    def _descriptor(self, shard: int) -> int:
        """The shard's open file, opened on first use; past _OPEN open files, all are closed
        first (a corpus may have more shards than a process may open files)."""
        files = self._opened()
        if shard not in files:
            if len(files) >= _OPEN:
                self._close()
                files = self._files = {}
            files[shard] = os.open(self.shards[shard].resolved(self.folder), os.O_RDONLY)
        return files[shard]

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    def windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """``stream[s : s + length]`` for each start, as an int64 array (len(starts), length)."""
        self._opened()
        out = np.empty((len(starts), length), dtype=np.int64)
        for row, start in enumerate(starts.tolist()):
            out[row] = self._read(start, length)
        return out

    def _read(self, start: int, length: int) -> np.ndarray:
        shard = bisect.bisect_right(self._starts, start) - 1
        local = start - self._starts[shard]
        parts = []
        if self._memory is not None:
            return self._memory[start:start + length]
        while length > 0:  # a window may cross into the next shard(s)
            count = min(length, self.shards[shard].tokens - local)
            raw = os.pread(self._descriptor(shard), count * self.itemsize,
                           self.shards[shard].offset + local * self.itemsize)
            if len(raw) != count * self.itemsize:
                raise OSError(f"{self.shards[shard].resolved(self.folder)} is shorter than its index says; "
                              "prepare the data again")
            parts.append(np.frombuffer(raw, dtype=self.dtype))
            length -= count
            shard, local = shard + 1, 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def to_numpy(self) -> np.ndarray:
        """The whole stream as one in-memory array (small corpora and tests only)."""
        if not len(self):
            return np.zeros(0, dtype=self.dtype)
        self._opened()
        return self._read(0, len(self)).astype(self.dtype)


@dataclass(frozen=True)
class TokenData:
    """Token ids ready for training: documents separated by ``eos_id``.

    Attributes:
        train: the training stream, memory-mapped (:class:`TokenStream`).
        eval: the held-out stream (from held-out documents), at most ``data.eval_tokens``.
        vocab_size: the model's vocabulary size, special tokens included.
        eos_id, pad_id, mask_id: special token ids.
        fingerprint: the corpus' cache key (of the source's listing, the data spec and the
            tokenizer); recorded with results.
        tokenizer_path: the tokenizer.json the ids were made with ("" for none).
        special_tokens: the (end of text, padding, mask) strings of that tokenizer.
    """

    train: TokenStream
    eval: np.ndarray
    vocab_size: int
    eos_id: int
    pad_id: int
    mask_id: int
    fingerprint: str
    tokenizer_path: str
    special_tokens: tuple[str, str, str] = ("<|endoftext|>", "<pad>", "<mask>")
    folder: str = field(default="", compare=False)


def cache_dir() -> Path:
    """Where prepared data is cached (``$RAYLAWS_CACHE`` or ``~/.cache/raylaws``): a corpus
    under ``data/<key>``, a remote sweep's mirror under ``sweeps/``."""
    return Path(os.environ.get("RAYLAWS_CACHE", Path.home() / ".cache" / "raylaws"))


def open_corpus(folder: Path, *, limit: Optional[int] = None, verify: bool = False) -> Optional[TokenData]:
    """The prepared corpus in ``folder``, or None where it is incomplete: no index, a shard
    missing or of the wrong size (or, with ``verify``, of the wrong hash)."""
    index = read_index(folder)
    if index is None:
        return None
    dtype = np.dtype(index["dtype"])
    shards = [Shard(**s) for s in index["shards"]]
    eval_shard = Shard(**index["eval"])
    for shard in [*shards, eval_shard]:
        if not shard_ok(shard, folder, dtype, verify=verify):
            return None
    train = TokenStream(folder, shards, index["dtype"], limit=limit, key=folder.name)
    held_out = np.fromfile(eval_shard.resolved(folder), dtype=dtype, count=eval_shard.tokens, offset=eval_shard.offset)
    tokenizer = folder / "tokenizer.json"
    specials = index["special_tokens"]
    return TokenData(train=train, eval=held_out, vocab_size=index["vocab_size"], eos_id=index["eos_id"],
                     pad_id=index["pad_id"], mask_id=index["mask_id"], fingerprint=folder.name,
                     tokenizer_path=str(tokenizer) if tokenizer.is_file() else "",
                     special_tokens=(specials["eos"], specials["pad"], specials["mask"]), folder=str(folder))


def read_index(folder: Path) -> Optional[dict[str, Any]]:
    try:
        index = json.loads((folder / INDEX).read_text())
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) and index.get("format") == FORMAT else None


def shard_ok(shard: Shard, folder: Path, dtype: np.dtype, *, verify: bool) -> bool:
    path = shard.resolved(folder)
    try:
        if path.stat().st_size < shard.offset + shard.tokens * dtype.itemsize:
            return False
    except OSError:
        return False
    return not verify or shard.sha256 is None or file_sha256(path) == shard.sha256


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` whole or not at all (a hidden temporary, then a rename)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def publish(data: TokenData, uri: str) -> str:
    """Copy a prepared corpus to ``<uri>/<key>/`` (each file once: one already there with its
    size is kept; the index last) and return that folder's URI, which trials pull from."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(uri)
    root = f"{base.rstrip('/')}/{data.fingerprint}"
    folder = Path(data.folder)
    index = read_index(folder)
    assert index is not None, "publish a corpus that open_corpus opened"
    names = {}
    for entry in [*index["shards"], index["eval"]]:
        names[entry["path"]] = Shard(**entry).resolved(folder)
    if data.tokenizer_path:
        names["tokenizer.json"] = Path(data.tokenizer_path)
        specials = Path(data.tokenizer_path).with_name("specials.json")  # its special tokens, for kept models
        if specials.is_file():
            names["specials.json"] = specials
    filesystem.create_dir(root, recursive=True)
    hashes = {s["path"]: s.get("sha256") for s in [*index["shards"], index["eval"]]}
    there = _published_hashes(filesystem, root)
    for relative, local in names.items():
        target = f"{root}/{_published_name(relative)}"
        info = filesystem.get_file_info(target)
        known = hashes.get(relative)
        if (info.type == fs.FileType.File and info.size == local.stat().st_size and known is not None
                and there.get(_published_name(relative)) == known):
            continue  # published before, with this content
        filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)  # a folder on a local or shared disk
        fs.copy_files(str(local), target, source_filesystem=fs.LocalFileSystem(), destination_filesystem=filesystem)
    published = dict(index)
    published["shards"] = [{**s, "path": _published_name(s["path"]),
                            "sha256": s["sha256"] or file_sha256(Shard(**s).resolved(folder))} for s in index["shards"]]
    published["eval"] = {**index["eval"], "path": _published_name(index["eval"]["path"])}
    with filesystem.open_output_stream(f"{root}/{INDEX}") as handle:
        handle.write(json.dumps(published, indent=1).encode())
    query = uri.partition("?")[2]
    return f"{uri.partition('?')[0].rstrip('/')}/{data.fingerprint}" + (f"?{query}" if query else "")


def _published_hashes(filesystem: Any, root: str) -> dict[str, Optional[str]]:
    """Each file's hash as an earlier publication's index gives it (none: nothing published)."""
    try:
        with filesystem.open_input_stream(f"{root}/{INDEX}") as handle:
            index = json.loads(handle.read())
        return {s["path"]: s.get("sha256") for s in [*index["shards"], index["eval"]]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _published_name(path: str) -> str:
    """A shard's name in a published copy: relative paths as they are, an in-place source
    file (an absolute path) by a name of its own."""
    if not Path(path).is_absolute():
        return path
    return f"shards/source-{hashlib.sha256(path.encode()).hexdigest()[:12]}{Path(path).suffix}"


def pull(remote: str, key: str) -> Path:
    """This node's copy of the corpus published at ``remote``: pulled once (under a lock, each
    shard checked against its hash) into ``<cache>/data/<key>``; later calls find it there."""
    import fcntl

    from pyarrow import fs

    folder = cache_dir() / "data" / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if open_corpus(folder) is not None:
            return folder
        filesystem, base = fs.FileSystem.from_uri(remote)
        with filesystem.open_input_stream(f"{base}/{INDEX}") as handle:
            index = json.loads(handle.read())
        dtype = np.dtype(index["dtype"])
        names = [s["path"] for s in index["shards"]] + [index["eval"]["path"]]
        for name in ("tokenizer.json", "specials.json"):  # the tokenizer, which kept models carry
            if filesystem.get_file_info(f"{base}/{name}").type == fs.FileType.File:
                names.append(name)
        for name in names:
            local = folder / name
            local.parent.mkdir(parents=True, exist_ok=True)
            shard = next((Shard(**s) for s in [*index["shards"], index["eval"]] if s["path"] == name), None)
            if local.exists() and (shard is None or shard_ok(shard, folder, dtype, verify=True)):
                continue
            temporary = local.with_name(f".{local.name}.tmp-{os.getpid()}")
            fs.copy_files(f"{base}/{name}", str(temporary), source_filesystem=filesystem,
                          destination_filesystem=fs.LocalFileSystem())
            if shard is not None and file_sha256(temporary) != shard.sha256:
                temporary.unlink()
                raise OSError(f"{remote}/{name} does not match its hash in the published index; prepare the data again")
            os.replace(temporary, local)
        write_atomic(folder / INDEX, json.dumps(index, indent=1).encode())
    return folder
