"""Where documents come from: a source's listing and its units of work.

A source is listed once (paths, sizes, modification times: never its contents); the listing
keys the cache and is cut into :class:`Unit` s of about ``data.shard_bytes`` each, a group of
small files or a byte range of a large one. Local paths and ``pyarrow.fs`` URIs (``s3://``,
``gs://``) are listed the same way, through a ``pyarrow.fs`` filesystem; ``hub:<name>`` has no
listing (one unit, streamed by ``datasets``). What a listed file holds is found where a unit
is read (:mod:`raylaws.data._documents`).

Which files a source lists:

* ``stdlib``: the top-level ``.py`` files of this Python's standard library.
* a file or folder of ``.txt``/``.jsonl``/``.json``/``.parquet`` (``.gz``/``.zst`` after a
  text suffix); a folder's ``.json`` files are metadata, skipped.
* a ``datasets.save_to_disk`` folder: the Arrow files of its ``train`` split (or its first).
* with ``data.tokens`` (ids made by another pipeline): ``.bin``/``.npy``/``.parquet`` files,
  never compressed.
"""

from __future__ import annotations

import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from raylaws.spec import DataSpec, SpecError, SpecProblem

TEXT_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
TOKEN_SUFFIXES = (".bin", ".npy", ".parquet")


@dataclass(frozen=True)
class Entry:
    """One file of a source's listing (``path`` inside the source's filesystem)."""

    path: str
    size: int
    mtime_ns: int
    fmt: str  # txt | jsonl | parquet | arrow | bin | npy
    compression: Optional[str] = None  # gzip | zstd


@dataclass(frozen=True)
class Listing:
    """What a source holds, found without reading it: the cache key is made from this."""

    source: str
    entries: tuple[Entry, ...]
    hub: Optional[str] = None  # hub:<name>, read by datasets' streaming loader

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def key_material(self) -> list[Any]:
        return [self.hub, [(e.path, e.size, e.mtime_ns) for e in self.entries]]


@dataclass(frozen=True)
class Piece:
    """A file, or the byte range ``[start, stop)`` of one (snapped to document boundaries by
    the reader: a range owns the documents that start inside it)."""

    entry: Entry
    start: int = 0
    stop: Optional[int] = None  # None: to the end


@dataclass(frozen=True)
class Unit:
    """One task of the preparation: its pieces' documents become one shard."""

    index: int
    pieces: tuple[Piece, ...]
    hub: Optional[str] = None

    @property
    def bytes(self) -> int:
        return sum((p.stop if p.stop is not None else p.entry.size) - p.start for p in self.pieces)


def filesystem(source: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path inside it)`` of a local path, ``stdlib`` or a URI."""
    from pyarrow import fs

    if source == "stdlib":
        return fs.LocalFileSystem(), str(Path(sysconfig.get_paths()["stdlib"]))
    if "://" in source:
        try:
            return fs.FileSystem.from_uri(source)
        except Exception as error:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
            raise SpecError([SpecProblem("data.source", f"cannot open {display(source)!r} ({first_line(error)}); "
                                                        "give a local path or an s3://, gs:// URI")]) from None
    try:
        path = Path(source).expanduser().absolute()
    except RuntimeError as error:  # "~someone/..." for a user that does not exist
        raise SpecError([SpecProblem("data.source", f"cannot expand {source!r} ({error})")]) from None
    return fs.LocalFileSystem(), str(path)


def list_source(data: DataSpec) -> Listing:
    """The files of ``data.source`` with their sizes and times, in a fixed order; raises a
    one-line :class:`SpecError` for a source that is missing, unreadable or of no known kind."""
    from pyarrow import fs as pafs

    source = data.source
    if source.startswith("hub:"):
        return Listing(source, (), hub=source[len("hub:"):])
    filesystem_, root = filesystem(source)
    info = _info(filesystem_, root, source)
    pretokenized = data.tokens is not None
    if info.type == pafs.FileType.NotFound:
        raise SpecError([SpecProblem("data.source", f"no such file or folder {display(source)!r}; use 'stdlib', a "
                                                    "local or s3:// .txt/.jsonl/.parquet file or folder, a "
                                                    "datasets.save_to_disk folder, or 'hub:<name>'")])
    if info.type not in (pafs.FileType.File, pafs.FileType.Directory):
        raise SpecError([SpecProblem("data.source", f"{display(source)!r} is {_special(root)}, not a regular file; "
                                                    "give files or a folder of them")])
    if info.type == pafs.FileType.File:
        entry = _entry(info, pretokenized)
        if entry is None:
            kinds = "a .bin, .npy or .parquet file" if pretokenized else "a .txt, .jsonl or .parquet file (or .gz/.zst)"
            raise SpecError([SpecProblem("data.source", f"{display(source)!r} is not {kinds}")])
        return Listing(source, (entry,))
    selector = pafs.FileSelector(root, recursive=True)
    try:
        everything = filesystem_.get_file_info(selector)
    except OSError as error:
        raise SpecError([SpecProblem("data.source", f"cannot list {display(source)!r} ({first_line(error)})")]) from None
    odd = next((i for i in everything if i.type not in (pafs.FileType.File, pafs.FileType.Directory)
                and _entry(i, pretokenized, any_type=True) is not None), None)
    if odd is not None:
        raise SpecError([SpecProblem("data.source", f"{odd.path!r} is {_special(odd.path)}, not a regular file; give "
                                                    "files or a folder of them")])
    infos = [i for i in everything if i.type == pafs.FileType.File]
    if source == "stdlib":  # the top-level .py files, as always
        infos = [i for i in infos if i.path.endswith(".py") and "/" not in i.path[len(root) + 1:]]
        entries = [Entry(i.path, i.size, i.mtime_ns or 0, "txt") for i in infos]
    elif not pretokenized and _saved_dataset(infos, root):
        entries = _dataset_entries(filesystem_, infos, root)
    else:
        # a folder's .json files are metadata, not text (a single .json file is read as JSON lines)
        entries = [e for e in (_entry(i, pretokenized) for i in infos if not i.path.endswith(".json"))
                   if e is not None]
    entries.sort(key=lambda e: e.path)
    if not entries:
        raise SpecError([SpecProblem("data.source", f"{display(source)!r} holds no "
                                                    f"{'.bin/.npy/.parquet' if pretokenized else '.txt/.jsonl/.parquet'}"
                                                    " files")])
    return Listing(source, tuple(entries))


def plan_units(data: DataSpec, listing: Listing) -> list[Unit]:
    """Cut the listing into units of about ``data.shard_bytes``: consecutive small files
    together, a large uncompressed text file in byte ranges (aligned, for ``txt_split: file``,
    to multiples of ``max_document_bytes``, so a range holds whole documents)."""
    if listing.hub is not None:
        return [Unit(0, (), hub=listing.hub)]
    target = data.shard_bytes
    aligned = max(1, target // data.max_document_bytes) * data.max_document_bytes  # whole txt_split: file documents
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    size = 0
    for entry in listing.entries:
        splittable = entry.compression is None and entry.fmt in ("txt", "jsonl")
        step = aligned if entry.fmt == "txt" and data.txt_split == "file" else target
        if splittable and entry.size > step:
            if current:
                groups.append(current)
                current, size = [], 0
            for start in range(0, entry.size, step):
                groups.append([Piece(entry, start, min(start + step, entry.size))])
            continue
        if current and size + entry.size > target:
            groups.append(current)
            current, size = [], 0
        current.append(Piece(entry))
        size += entry.size
    if current:
        groups.append(current)
    return [Unit(i, tuple(g)) for i, g in enumerate(groups)]


def _special(path: str) -> str:
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "unreadable"
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a file")


def _entry(info: Any, pretokenized: bool, *, any_type: bool = False) -> Optional[Entry]:
    name = info.base_name
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if name.endswith(suffix):
            compression, name = codec, name[: -len(suffix)]
    if pretokenized:
        fmt = next((s[1:] for s in TOKEN_SUFFIXES if name.endswith(s)), None)
        if compression is not None:  # ids are read in place (a Parquet file compresses inside)
            return None
    else:
        fmt = {".txt": "txt", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}.get(Path(name).suffix)
        if fmt == "parquet" and compression is not None:
            return None
    if fmt and any_type:
        return Entry(info.path, 0, 0, fmt, compression)
    return Entry(info.path, info.size, info.mtime_ns or 0, fmt, compression) if fmt else None


def _saved_dataset(infos: list[Any], root: str) -> bool:
    names = {i.path[len(root) + 1:] for i in infos}
    return bool(names & {"dataset_info.json", "state.json", "dataset_dict.json"})


def _dataset_entries(filesystem_: Any, infos: list[Any], root: str) -> list[Entry]:
    """A ``save_to_disk`` folder's Arrow files (of its ``train`` split, or its first one)."""
    by_name = {i.path[len(root) + 1:]: i for i in infos}
    prefix = ""
    if "dataset_dict.json" in by_name:
        with filesystem_.open_input_stream(by_name["dataset_dict.json"].path) as handle:
            splits = json.loads(handle.read()).get("splits", [])
        split = "train" if "train" in splits else (splits[0] if splits else "")
        prefix = f"{split}/"
    return [Entry(i.path, i.size, i.mtime_ns or 0, "arrow") for name, i in by_name.items()
            if name.startswith(prefix) and name.endswith(".arrow") and "/" not in name[len(prefix):]]


def _info(filesystem_: Any, path: str, source: str) -> Any:
    try:
        return filesystem_.get_file_info(path)
    except OSError as error:  # wrong credentials, an unreachable endpoint, a missing bucket
        raise SpecError([SpecProblem("data.source", f"cannot read {display(source)!r} ({first_line(error)}); "
                                                    "check the URI and its credentials")]) from None


def display(source: str) -> str:
    """A source as messages name it: without its URI's query (endpoints, credentials)."""
    return source.split("?", 1)[0]


def first_line(error: BaseException) -> str:
    """An error's first line, for one-line messages."""
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__
