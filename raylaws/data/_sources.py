"""Where documents come from: a source's listing, its units of work, and a unit's documents.

A source is listed once (paths, sizes, modification times: never its contents); the listing
keys the cache and is cut into :class:`Unit` s of about ``data.shard_bytes`` each, a group of
small files or a byte range of a large one. :func:`documents` streams one unit's documents
(``str``, or an id array for pre-tokenized Parquet) and never holds more than one of them
and one read block. Local paths and ``pyarrow.fs`` URIs (``s3://``, ``gs://``) are read the
same way, through a ``pyarrow.fs`` filesystem.

How each file becomes documents:

* ``.txt`` (and ``.py`` for ``stdlib``): by ``data.txt_split``. ``file`` cuts a file at the
  first line end at or after every multiple of ``data.max_document_bytes`` (a file below that
  is one document); ``paragraph`` at blank lines; ``line`` at line ends.
* ``.jsonl``/``.json``: one document per line, the ``data.text_field`` key.
* ``.parquet``: one document per row of the ``data.text_field`` column (``data.tokens.field``
  for ids).
* a ``datasets.save_to_disk`` folder: its Arrow files, rows of ``data.text_field``.
* ``.gz``/``.zst`` after any text suffix: decompressed as a stream (one unit per file).
"""

from __future__ import annotations

import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from raylaws.spec import DataSpec, SpecError, SpecProblem

TEXT_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
TOKEN_SUFFIXES = (".bin", ".npy", ".parquet")
_BLOCK = 4 << 20  # bytes read at a time


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


def documents(unit: Unit, data: DataSpec) -> Iterator[Union[str, np.ndarray]]:
    """The documents of ``unit`` in order; empty ones are skipped."""
    if unit.hub is not None:  # pragma: no cover - needs the network
        yield from _hub_documents(unit.hub, data)
        return
    filesystem_, _ = filesystem(data.source)
    for piece in unit.pieces:
        entry = piece.entry
        if entry.fmt == "jsonl":
            for number, line in _numbered_lines(filesystem_, piece):
                if line.strip():
                    text = _json_text(line, data.text_field, entry.path, number)
                    if text.strip():
                        yield text
        elif entry.fmt == "txt":
            yield from (d for d in _txt_documents(filesystem_, piece, data) if d.strip())
        elif entry.fmt in ("parquet", "arrow"):
            yield from _table_documents(filesystem_, entry, data)
        else:  # pragma: no cover - flat id files never reach here (raylaws.data._flat)
            raise ValueError(f"no documents in a {entry.fmt} file")


def _txt_documents(filesystem_: Any, piece: Piece, data: DataSpec) -> Iterator[str]:
    if data.txt_split == "line":
        yield from (_decode(b) for _, b in _numbered_lines(filesystem_, piece))
    elif data.txt_split == "paragraph":
        yield from (_decode(b) for b in _paragraphs(filesystem_, piece))
    else:
        yield from (_decode(b) for b in _file_documents(filesystem_, piece, data.max_document_bytes))


def _file_documents(filesystem_: Any, piece: Piece, every: int) -> Iterator[bytes]:
    """``txt_split: file``: cut at the first line end at or after each multiple of ``every``
    (counted from the file's start), so a range aligned to such multiples holds whole documents."""
    stream, start, stop = _open_range(filesystem_, piece, b"\n")
    buffer = b""  # the file from `start` on, as far as read
    with stream:
        while stop is None or start < stop:  # a range owns the documents that start inside it
            target = (start // every + 1) * every  # the next multiple of `every` after the start
            at = buffer.find(b"\n", max(0, target - start - 1))
            while at < 0:
                block = stream.read(_BLOCK)
                if not block:
                    break
                searched = max(0, target - start - 1, len(buffer) - 1)
                buffer += block
                at = buffer.find(b"\n", searched)
            if at < 0:  # the end of the file
                if buffer:
                    yield buffer
                return
            yield buffer[:at + 1]
            buffer = buffer[at + 1:]
            start += at + 1


def _lines(filesystem_: Any, piece: Piece) -> Iterator[tuple[int, bytes]]:
    """``(position, line)`` of every line (without its ``\\n``) from the first one that starts
    at or after the range's start, to the end of the file: the caller stops where its documents
    stop. Memory: one read block, and one line."""
    stream, position, _ = _open_range(filesystem_, piece, b"\n")
    buffer, offset = b"", 0  # buffer[offset] is the file's byte at `position`
    with stream:
        while True:
            at = buffer.find(b"\n", offset)
            if at < 0:
                block = stream.read(_BLOCK)
                if not block:
                    if offset < len(buffer):
                        yield position, buffer[offset:]
                    return
                buffer = buffer[offset:] + block
                offset = 0
                continue
            yield position, buffer[offset:at]
            position += at + 1 - offset
            offset = at + 1


def _numbered_lines(filesystem_: Any, piece: Piece) -> Iterator[tuple[int, bytes]]:
    """``(number, line)`` of the lines that start inside the range (numbered from its start)."""
    stop = _stop(piece)
    for number, (position, line) in enumerate(_lines(filesystem_, piece), start=1):
        if stop is not None and position >= stop:
            return
        yield number, line


def _paragraphs(filesystem_: Any, piece: Piece) -> Iterator[bytes]:
    """Runs of non-blank lines (a blank line holds only whitespace, ``\\r`` included) that
    start inside the range; one that started before it is the previous range's."""
    stop = _stop(piece)
    paragraph: list[bytes] = []
    previous_blank: Optional[bool] = None
    for position, line in _lines(filesystem_, piece):
        if previous_blank is None:
            previous_blank = _blank_before(filesystem_, piece.entry, position)
        if not line.strip():
            if paragraph:
                yield b"\n".join(paragraph)
                paragraph = []
            previous_blank = True
            continue
        if not paragraph:
            if not previous_blank:  # the rest of a paragraph that started in the previous range
                continue
            if stop is not None and position >= stop:
                return
        paragraph.append(line)
        previous_blank = False
    if paragraph:
        yield b"\n".join(paragraph)


def _blank_before(filesystem_: Any, entry: Entry, position: int) -> bool:
    """Whether the line before the one at ``position`` (a line start) is blank, or there is none."""
    if position == 0 or entry.compression is not None:
        return True
    start = max(0, position - 4096)
    with filesystem_.open_input_file(entry.path) as handle:
        handle.seek(start)
        before = handle.read(position - start)[:-1]  # without the line end at position - 1
    at = before.rfind(b"\n")
    line = before[at + 1:]
    return not line.strip() and (at >= 0 or start == 0)


def _stop(piece: Piece) -> Optional[int]:
    return piece.stop if piece.stop is not None and piece.stop < piece.entry.size else None


def _open_range(filesystem_: Any, piece: Piece, sep: bytes) -> tuple[Any, int, Optional[int]]:
    """A stream positioned at the first boundary (just after ``sep``) at or after the range's
    start, that position, and where the range stops (None: the end of the file)."""
    entry = piece.entry
    if entry.compression is not None:
        return filesystem_.open_input_stream(entry.path, compression=entry.compression), 0, None
    stream = filesystem_.open_input_file(entry.path)
    position = piece.start
    if position > 0:  # skip the piece of a document that started in the previous range
        back = min(position, len(sep))  # a boundary is just after a separator that may end at `start`
        stream.seek(position - back)
        position -= back
        carry = b""
        while True:
            block = stream.read(_BLOCK)
            if not block:
                position = entry.size
                break
            carry += block
            at = carry.find(sep)
            if at >= 0:
                position += at + len(sep)
                stream.seek(position)
                break
            keep = len(sep) - 1
            position += len(carry) - keep
            carry = carry[len(carry) - keep:] if keep else b""
    return stream, position, _stop(piece)


def _table_documents(filesystem_: Any, entry: Entry, data: DataSpec) -> Iterator[Union[str, np.ndarray]]:
    import pyarrow.parquet as pq
    from pyarrow import ipc

    field = data.tokens.field if data.tokens is not None else data.text_field
    with filesystem_.open_input_file(entry.path) as handle:
        if entry.fmt == "parquet":
            reader = pq.ParquetFile(handle)
            if field not in reader.schema_arrow.names:
                raise SpecError([SpecProblem("data.tokens.field" if data.tokens is not None else "data.text_field",
                                             f"{field!r} is not a column of {entry.path}; columns: "
                                             f"{', '.join(reader.schema_arrow.names)}")])
            batches = reader.iter_batches(columns=[field], batch_size=1024)
        else:
            reader = ipc.open_stream(handle)
            if field not in reader.schema.names:
                raise SpecError([SpecProblem("data.text_field", f"{field!r} is not a column of the dataset; "
                                                                f"columns: {', '.join(reader.schema.names)}")])
            batches = (b.select([field]) for b in reader)
        for batch in batches:
            column = batch.column(0)
            if data.tokens is not None:
                for row in column:
                    ids = row.values.to_numpy(zero_copy_only=False) if row.is_valid else None
                    if ids is not None and len(ids):
                        yield ids
            else:
                for text in column.to_pylist():
                    if text and text.strip():
                        yield text


def _hub_documents(name: str, data: DataSpec) -> Iterator[str]:  # pragma: no cover - needs the network
    import datasets

    for row in datasets.load_dataset(name, split="train", streaming=True):
        text = row.get(data.text_field)
        if text and str(text).strip():
            yield str(text)


def _json_text(line: bytes, field: str, path: str, number: int) -> str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise SpecError([SpecProblem("data.source", f"{path}:{number} is not JSON ({error.msg})")]) from None
    if not isinstance(row, dict) or field not in row:
        raise SpecError([SpecProblem("data.text_field", f"{path}:{number} has no key {field!r}; set "
                                                        "data.text_field to the key that holds the text")])
    return str(row[field])


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


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
