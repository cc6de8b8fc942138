"""One Parquet file per finished trial, published atomically and exactly once.

A record is staged in a hidden temp file (written, fsynced), then hard-linked to its final
name ``<trial_id>.parquet`` in the sweep's trials folder (:attr:`raylaws.layout.SweepLayout.trials`). ``link`` fails when the name exists, so a second write of
the same ``trial_id`` adds nothing; readers skip hidden files, so a crash between staging and
publishing leaves no visible row (:func:`clean_stray` removes the leftovers).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, Mapping, Union

import pyarrow as pa
import pyarrow.parquet as pq

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
    with open(staged, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
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


def read_trials(folder: Union[str, Path]) -> pa.Table:
    """All published records in the trials ``folder``, in ``finished_at`` order, as one table."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.exists() else []
    tables = []
    for path in files:
        try:
            tables.append(_conform(pq.read_table(path)))
        except FileNotFoundError:  # pragma: no cover - removed by a concurrent clean-up
            continue
    if not tables:
        return TRIALS_SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    return table.sort_by([("finished_at", "ascending"), ("trial_id", "ascending")])


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
