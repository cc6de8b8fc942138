"""The Arrow store: atomic, exactly-once records, readable by common tools."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from raylaws import store


def record(trial_id: str = "L1-H16.s000", **overrides: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    base = {
        "sweep": "t", "trial_id": trial_id, "size": "L1-H16", "n_layers": 1, "d_model": 16, "n_params": 3072,
        "n_params_exact": 3312, "phase": "search", "seed": 0, "learning_rate": 1e-3, "batch_size": 8,
        "status": "completed", "stop_reason": "budget", "error": None, "eval_loss": 4.2, "steps": 10,
        "tokens": 2560, "flops": 6.0 * 3072 * 2560, "wall_seconds": 1.5, "started_at": now, "finished_at": now,
        "eval_steps": [10], "eval_losses": [4.2], "config_json": "{}",
    }
    base.update(overrides)
    return base


def test_schema_is_versioned_and_documented() -> None:
    assert store.TRIALS_SCHEMA.metadata[b"raylaws.schema_version"] == str(store.SCHEMA_VERSION).encode()
    descriptions = store.describe()
    assert "12*L*H^2" in descriptions["n_params"] and "sequences" in descriptions["batch_size"]


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    assert store.write_record(tmp_path, record())
    table = store.read_trials(tmp_path)
    assert table.num_rows == 1 and table.schema.equals(store.TRIALS_SCHEMA, check_metadata=False)
    row = table.to_pylist()[0]
    assert row["trial_id"] == "L1-H16.s000" and row["eval_loss"] == 4.2 and row["schema_version"] == store.SCHEMA_VERSION


def test_writing_the_same_trial_id_again_adds_no_row(tmp_path: Path) -> None:
    assert store.write_record(tmp_path, record(eval_loss=4.2))
    assert not store.write_record(tmp_path, record(eval_loss=9.9))
    rows = store.read_trials(tmp_path).to_pylist()
    assert len(rows) == 1 and rows[0]["eval_loss"] == 4.2


def test_crash_between_temp_write_and_rename_leaves_no_row(tmp_path: Path) -> None:
    # A real process stages a record and dies before publishing it.
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2]);"
        "from tests.store_tests.test_files import record; from raylaws import store;"
        "store.stage_record(sys.argv[1], record('L1-H16.s001')); os._exit(9)"
    )
    repo = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path), repo], capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    assert list((tmp_path).glob(".tmp-*"))
    assert store.read_trials(tmp_path).num_rows == 0
    assert store.clean_stray(tmp_path) == 1
    assert not list((tmp_path).iterdir())


def test_publish_refuses_to_overwrite(tmp_path: Path) -> None:
    store.write_record(tmp_path, record())
    staged = store.stage_record(tmp_path, record(eval_loss=1.0))
    assert not store.publish(staged, store.record_path(tmp_path, "L1-H16.s000"))
    assert not staged.exists()
    assert store.read_trials(tmp_path).to_pylist()[0]["eval_loss"] == 4.2


def test_nullable_columns_accept_nulls(tmp_path: Path) -> None:
    store.write_record(tmp_path, record(status="failed", eval_loss=None, error="ValueError: boom"))
    row = store.read_trials(tmp_path).to_pylist()[0]
    assert row["eval_loss"] is None and row["error"] == "ValueError: boom"


def test_unsafe_trial_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        store.write_record(tmp_path, record("../escape"))


def test_empty_store_has_the_schema(tmp_path: Path) -> None:
    table = store.read_trials(tmp_path)
    assert table.num_rows == 0 and table.schema.names == store.TRIALS_SCHEMA.names


def test_files_are_plain_parquet_for_pandas_and_pyarrow_dataset(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow.dataset as ds

    for i in range(3):
        store.write_record(tmp_path, record(f"L1-H16.s00{i}"))
    folder = tmp_path
    assert len(pd.read_parquet(folder)) == 3
    assert ds.dataset(folder, format="parquet").count_rows() == 3
    assert pq.read_table(next(folder.glob("*.parquet"))).num_rows == 1


def test_polars_and_duckdb_read_the_store(tmp_path: Path) -> None:
    polars = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    for i in range(2):
        store.write_record(tmp_path, record(f"L1-H16.s00{i}"))
    pattern = str(tmp_path / "*.parquet")
    assert polars.read_parquet(pattern).height == 2
    assert duckdb.sql(f"select count(*) from read_parquet('{pattern}')").fetchall() == [(2,)]


def test_a_schema_1_record_reads_with_the_new_columns_null(tmp_path: Path) -> None:
    import pyarrow as pa

    store.write_record(tmp_path, record())
    path = next(tmp_path.glob("*.parquet"))
    old = pq.read_table(path).drop_columns(["precision", "backend", "workers", "cpus_per_worker", "gpus_per_worker"])
    old = old.set_column(old.schema.get_field_index("schema_version"), "schema_version", pa.array([1], pa.int32()))
    pq.write_table(old, path)
    (row,) = store.read_trials(tmp_path).to_pylist()
    assert row["schema_version"] == 1 and row["trial_id"] == "L1-H16.s000"
    assert row["precision"] is None and row["workers"] is None


def test_a_schema_2_record_reads_with_spec_hash_null(tmp_path: Path) -> None:
    import pyarrow as pa

    store.write_record(tmp_path, record())
    path = store.record_path(tmp_path, "L1-H16.s000")
    old = pq.read_table(path).drop_columns(["spec_hash"])
    old = old.set_column(old.schema.get_field_index("schema_version"), "schema_version", pa.array([2], pa.int32()))
    pq.write_table(old, path)
    row = store.read_trials(tmp_path).to_pylist()[0]
    assert row["schema_version"] == 2 and row["spec_hash"] is None


def test_a_schema_4_record_reads_with_the_task_example_counts_null(tmp_path: Path) -> None:
    import pyarrow as pa

    store.write_record(tmp_path, record())
    path = store.record_path(tmp_path, "L1-H16.s000")
    old = pq.read_table(path).drop_columns(["task_train_examples", "task_eval_examples"])
    old = old.set_column(old.schema.get_field_index("schema_version"), "schema_version", pa.array([4], pa.int32()))
    pq.write_table(old, path)
    row = store.read_trials(tmp_path).to_pylist()[0]
    assert row["schema_version"] == 4 and row["task_train_examples"] is None and row["task_eval_examples"] is None


def _bad_files(folder: Path) -> dict[str, bytes]:
    """One of each kind of bad file the store must survive, by file name."""
    import io

    import pyarrow as pa

    good = io.BytesIO()
    pq.write_table(pa.table({"trial_id": ["L1-H16.s000"], "size": ["x"]}), good)  # record of another schema
    store.write_record(folder, record("L1-H16.s009"))
    whole = store.record_path(folder, "L1-H16.s009").read_bytes()
    store.record_path(folder, "L1-H16.s009").unlink()
    return {
        "L1-H16.s005.parquet": whole[:10],  # truncated to 10 bytes
        "L1-H16.s006.parquet": whole[: len(whole) // 2],  # truncated halfway
        "x.parquet": b"garbage, not parquet",
        "foreign.parquet": good.getvalue(),
        "L1-H16.s007.parquet": whole,  # a good record under another trial's name
    }


def test_bad_files_are_skipped_and_named_never_deleted(tmp_path: Path) -> None:
    store.write_record(tmp_path, record("L1-H16.s000"))
    store.write_record(tmp_path, record("L1-H16.s001"))
    bad = _bad_files(tmp_path)
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    with pytest.warns(store.BadRecordWarning) as caught:
        table = store.read_trials(tmp_path)
    assert sorted(table.column("trial_id").to_pylist()) == ["L1-H16.s000", "L1-H16.s001"]
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(bad) and all(any(name in m for m in messages) for name in bad)
    assert all((tmp_path / name).read_bytes() == content for name, content in bad.items())  # untouched


def test_a_record_of_a_newer_raylaws_is_named_not_misread(tmp_path: Path) -> None:
    import pyarrow as pa

    store.write_record(tmp_path, record())
    path = store.record_path(tmp_path, "L1-H16.s000")
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("schema_version"), "schema_version",
                             pa.array([store.SCHEMA_VERSION + 1], pa.int32()))
    pq.write_table(table, path)
    scan = store.scan_trials(tmp_path)
    assert scan.table.num_rows == 0 and "newer raylaws" in scan.bad[0].reason


def test_an_unreadable_trials_folder_is_an_error_not_an_empty_sweep(tmp_path: Path) -> None:
    from raylaws.errors import SweepError

    (tmp_path / "trials").write_text("a file where the folder belongs")
    with pytest.raises(SweepError, match="cannot read the trials folder"):
        store.read_trials(tmp_path / "trials")


def test_a_full_disk_leaves_no_staged_file_and_says_so_in_one_line(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from raylaws.errors import SweepError

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(SweepError, match="No space left on device.*raylaws resume") as raised:
        store.write_record(tmp_path, record())
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_staged_leftovers_are_listed_by_a_scan(tmp_path: Path) -> None:
    store.stage_record(tmp_path, record("L1-H16.s003"))
    scan = store.scan_trials(tmp_path)
    assert scan.table.num_rows == 0 and len(scan.staged) == 1 and scan.bad == ()
