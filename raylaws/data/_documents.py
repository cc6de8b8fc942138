"""A unit's documents: read as a stream, never more than one document and one read block held.

Each file of a unit (a whole file, or the byte range ``[start, stop)`` of one) is read through
the source's ``pyarrow.fs`` filesystem; a range owns the documents that start inside it.

How each file becomes documents:

* ``.txt`` (and ``.py`` for ``stdlib``): by ``data.txt_split``. ``file`` cuts a file at the
  first line end at or after every multiple of ``data.max_document_bytes`` (a file below that
  is one document); ``paragraph`` at blank lines; ``line`` at line ends.
* ``.jsonl``/``.json``: one document per line, the ``data.text_field`` key.
* ``.parquet``: one document per row of the ``data.text_field`` column (``data.tokens.field``
  for ids: each document an id array).
* a ``datasets.save_to_disk`` folder: its Arrow files, rows of ``data.text_field``.
* ``.gz``/``.zst`` after any text suffix: decompressed as a stream (one unit per file).
* ``hub:<name>``: streamed by ``datasets`` (needs the network).
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Optional, Union

import numpy as np

from raylaws.data._sources import Entry, Piece, Unit, filesystem
from raylaws.spec import DataSpec, SpecError, SpecProblem

_BLOCK = 4 << 20  # bytes read at a time


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
