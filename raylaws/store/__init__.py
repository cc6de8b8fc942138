"""The Arrow store: one atomic, write-once Parquet record per finished trial."""

from raylaws.store._files import (
    BadFile,
    BadRecordWarning,
    StoreScan,
    clean_stray,
    publish,
    read_trials,
    record_path,
    scan_trials,
    stage_record,
    write_record,
)
from raylaws.store._schema import PHASES, SCHEMA_VERSION, STATUSES, TRIALS_SCHEMA, describe

__all__ = [
    "BadFile",
    "BadRecordWarning",
    "StoreScan",
    "PHASES",
    "SCHEMA_VERSION",
    "STATUSES",
    "TRIALS_SCHEMA",
    "clean_stray",
    "describe",
    "publish",
    "read_trials",
    "record_path",
    "scan_trials",
    "stage_record",
    "write_record",
]
