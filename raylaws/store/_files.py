"""One Parquet file per finished trial, published atomically and exactly once.

A record is staged in a hidden temp file (written, fsynced), then hard-linked to its final
name ``<trial_id>.parquet`` in the sweep's trials folder (:attr:`raylaws.layout.SweepLayout.trials`). ``link`` fails when the name exists, so a second write of
the same ``trial_id`` adds nothing; readers skip hidden files, so a crash between staging and
publishing leaves no visible row (:func:`clean_stray` removes the leftovers).

Reading never trusts a file: every good record is read, and each file that is not a record of
this schema (garbage, truncated, another table, a newer raylaws) is reported by name
(:func:`scan_trials`; :func:`read_trials` warns with :class:`BadRecordWarning`) and left where
it is; nothing here deletes a published file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Union

import pyarrow as pa
import pyarrow.parquet as pq

from raylaws.errors import SweepError
from raylaws.store._schema import SCHEMA_VERSION, TRIALS_SCHEMA

logger = logging.getLogger(__name__)

_STAGING_PREFIX = ".tmp-"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")


def record_path(folder: Union[str, Path], trial_id: str) -> Path:
    """Where the record of ``trial_id`` lives in the trials ``folder``."""
    if not _SAFE_ID.match(trial_id):
        raise ValueError(f"trial_id {trial_id!r} is not a safe file name")
    return Path(folder) / f"{trial_id}.parquet"


def write_record(folder: Union[str, Path], record: Mapping[str, Any]) -> bool:
    """Publish one trial's record atomically; return False if it already existed.

    Args:
        folder: the sweep's trials folder.
        record: one value per column of :data:`TRIALS_SCHEMA` (``schema_version`` is filled in).

    Returns:
        True if this call published the record, False if ``trial_id`` had one already (nothing
        is written then).
    """
    final = record_path(folder, record["trial_id"])
    if final.exists():
        return False
    staged = stage_record(folder, record)
    return publish(staged, final)


def stage_record(folder: Union[str, Path], record: Mapping[str, Any]) -> Path:
    """First half of :func:`write_record`: write and fsync a hidden temp file."""
    row = {name: [record.get(name)] for name in TRIALS_SCHEMA.names}
    row["schema_version"] = [SCHEMA_VERSION]
    table = pa.table(row, schema=TRIALS_SCHEMA)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f"{_STAGING_PREFIX}{record['trial_id']}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        with open(staged, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:  # a full disk, a quota: leave no partial file behind
        staged.unlink(missing_ok=True)
        hint = "; free some space and `raylaws resume` the sweep" if error.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        raise SweepError(f"cannot write the record of {record['trial_id']} in {str(folder)!r} "
                         f"({error.strerror or error}){hint}") from None
    return staged


def publish(staged: Path, final: Path) -> bool:
    """Second half of :func:`write_record`: link the staged file to its final name."""
    try:
        os.link(staged, final)
        published = True
    except FileExistsError:
        published = False
    finally:
        staged.unlink(missing_ok=True)
    if published:
        _fsync_dir(final.parent)
    return published


def clean_stray(folder: Union[str, Path]) -> int:
    """Remove staged files left by a crash in the trials ``folder``; return how many."""
    folder = Path(folder)
    removed = 0
    for stray in folder.glob(f"{_STAGING_PREFIX}*"):
        stray.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("removed %d staged record file(s) left by an interrupted writer", removed)
    return removed


class BadRecordWarning(UserWarning):
    """A file of the trials folder is not a readable record; it was skipped, not deleted."""


@dataclass(frozen=True)
class BadFile:
    """A file of the trials folder that is not a record of this schema, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class StoreScan:
    """What a trials folder holds: its good records, its bad files and staged leftovers."""

    table: pa.Table  # every good record, in ``finished_at`` order
    bad: tuple[BadFile, ...]
    staged: tuple[Path, ...]  # hidden files of a writer that died before publishing


def scan_trials(folder: Union[str, Path], filesystem: Any = None) -> StoreScan:
    """Read every record of the trials ``folder`` and name each file that is not one.

    A missing folder is an empty store. With ``filesystem`` (a ``pyarrow.fs.FileSystem``: a
    sweep in object storage), ``folder`` is a path inside it and is read from there directly.

    Raises:
        SweepError: the folder exists but cannot be listed (permissions, not a directory).
    """
    folder = Path(folder)
    if filesystem is not None:
        return _scan_remote(folder, filesystem)
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except FileNotFoundError:
        return StoreScan(TRIALS_SCHEMA.empty_table(), (), ())
    except OSError as error:
        raise SweepError(f"cannot read the trials folder {str(folder)!r} ({error.strerror or error})") from None
    tables, bad = [], []
    for name in names:
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        try:
            tables.append(_read_record(folder / name))
        except FileNotFoundError:  # pragma: no cover - removed by a concurrent clean-up
            continue
        except _NotARecord as error:
            bad.append(BadFile(folder / name, str(error)))
    staged = tuple(folder / n for n in names if n.startswith(_STAGING_PREFIX))
    if not tables:
        return StoreScan(TRIALS_SCHEMA.empty_table(), tuple(bad), staged)
    table = pa.concat_tables(tables).sort_by([("finished_at", "ascending"), ("trial_id", "ascending")])
    return StoreScan(table, tuple(bad), staged)


def _scan_remote(folder: Path, filesystem: Any) -> StoreScan:
    """:func:`scan_trials` of a trials folder in object storage.

    A record's key is ``<trial_id>.parquet``, so the store cannot hold two rows of one trial;
    :func:`raylaws.remote.Mirror.push_record` never overwrites a key (write-once)."""
    from pyarrow.fs import FileSelector, FileType

    try:
        infos = filesystem.get_file_info(FileSelector(str(folder), allow_not_found=True))
    except OSError as error:
        raise SweepError(f"cannot list the trials folder {str(folder)!r} ({error})") from None
    tables, bad = [], []
    for info in sorted(infos, key=lambda i: i.base_name):
        name = info.base_name
        if info.type != FileType.File or name.startswith(".") or not name.endswith(".parquet"):
            continue
        try:
            tables.append(_read_record(folder / name, filesystem))
        except FileNotFoundError:  # pragma: no cover
            continue
        except _NotARecord as error:
            bad.append(BadFile(folder / name, str(error)))
    if not tables:
        return StoreScan(TRIALS_SCHEMA.empty_table(), tuple(bad), ())
    table = pa.concat_tables(tables).sort_by([("finished_at", "ascending"), ("trial_id", "ascending")])
    return StoreScan(table, tuple(bad), ())


def read_trials(folder: Union[str, Path], filesystem: Any = None) -> pa.Table:
    """All published records in the trials ``folder``, in ``finished_at`` order, as one table.

    Each file that is not a readable record is skipped with a :class:`BadRecordWarning` naming
    it (``raylaws check`` lists them); it is never deleted. ``filesystem``: see :func:`scan_trials`.
    """
    scan = scan_trials(folder, filesystem)
    for item in scan.bad:
        warnings.warn(f"skipped {item}", BadRecordWarning, stacklevel=2)
    return scan.table


class _NotARecord(Exception):
    pass


_REQUIRED = [field for field in TRIALS_SCHEMA if not field.nullable]  # in every schema version


def _read_record(path: Path, filesystem: Any = None) -> pa.Table:
    """One record file as a table of the current schema, or :class:`_NotARecord` saying why."""
    try:
        table = pq.read_table(path) if filesystem is None else pq.read_table(str(path), filesystem=filesystem)
        names = table.column_names  # a damaged file can read, then fail here (a name that is not UTF-8)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise _NotARecord(f"not a readable Parquet file ({first})") from None
    missing = [field.name for field in _REQUIRED if field.name not in names]
    if missing:
        raise _NotARecord(f"not a raylaws trials record (no column {', '.join(missing[:5])}"
                          f"{', ...' if len(missing) > 5 else ''})")
    if table.num_rows != 1:
        raise _NotARecord(f"holds {table.num_rows} rows; a record holds one")
    try:
        table = _conform(table)
        table.validate(full=True)  # a damaged string column (invalid UTF-8) is found here, not when read
    except (pa.ArrowException, ValueError) as error:
        raise _NotARecord(f"a column has the wrong type ({str(error).splitlines()[0][:200]})") from None
    for field in _REQUIRED:
        if table.column(field.name).null_count:
            raise _NotARecord(f"column {field.name} is empty")
    version = table.column("schema_version")[0].as_py()
    if version > SCHEMA_VERSION:
        raise _NotARecord(f"written by a newer raylaws (schema {version}; this one reads up to {SCHEMA_VERSION})")
    trial_id = table.column("trial_id")[0].as_py()
    if f"{trial_id}.parquet" != path.name:
        raise _NotARecord(f"holds the record of {trial_id!r}, not of {path.stem!r}")
    return table


def _conform(table: pa.Table) -> pa.Table:
    """Give an older file the current columns (missing ones as nulls)."""
    if table.schema.equals(TRIALS_SCHEMA, check_metadata=False):
        return table.replace_schema_metadata(TRIALS_SCHEMA.metadata)
    columns = []
    for field in TRIALS_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(len(table), field.type))
    return pa.table(columns, schema=TRIALS_SCHEMA)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
