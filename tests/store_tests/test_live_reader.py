"""A reader beside a live sweep never sees a torn or partial record.

The writers are real processes publishing with :func:`raylaws.store.write_record`; the test
process reads meanwhile with :func:`raylaws.store.read_trials`, ``pandas.read_parquet`` and
``pyarrow.dataset``, the way a notebook watches a running sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from raylaws import store
from tests.conftest import REPO
from tests.store_tests.test_files import record

N_RECORDS = 200
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def numbered_record(i: int, *, writer: int = 0) -> dict[str, Any]:
    """Record ``i``, big enough (~12 KB) that a torn write would show, every value known from ``i``."""
    return record(
        f"L1-H16.s{i:03d}",
        eval_loss=4.0 + i / 1000 + writer,
        steps=i,
        started_at=START + timedelta(seconds=i),
        finished_at=START + timedelta(seconds=i, milliseconds=500),
        eval_steps=list(range(0, 500 * 10, 10)),
        eval_losses=[4.0 + i / 1000 + k / 1e6 for k in range(500)],
        config_json=json.dumps({"trial": i, "writer": writer, "padding": [i] * 1000}),
    )


def as_stored(written: dict[str, Any]) -> dict[str, Any]:
    """The row a reader must get back for ``written``: every column, unset ones null."""
    return {**{name: written.get(name) for name in store.TRIALS_SCHEMA.names}, "schema_version": store.SCHEMA_VERSION}


def publish_numbered(sweep_dir: str, count: int, pause: float) -> None:
    """Writer process: publish records 0..count-1, one every ``pause`` seconds."""
    for i in range(count):
        assert store.write_record(sweep_dir, numbered_record(i))
        time.sleep(pause)


def race_numbered(sweep_dir: str, count: int, writer: int, go: str) -> None:
    """Racing writer process: once ``go`` exists, write records 0..count-1 tagged ``writer``;
    print the trial ids this process published."""
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.001)
    won = [i for i in range(count) if store.write_record(sweep_dir, numbered_record(i, writer=writer))]
    print(json.dumps(won), flush=True)


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def index_of(trial_id: str) -> int:
    return int(trial_id.rsplit(".s", 1)[1])


def test_reads_beside_a_live_writer_never_fail_never_shrink_and_never_see_a_torn_record(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow.dataset as ds

    folder = tmp_path
    writer = python("import sys; from tests.store_tests.test_live_reader import publish_numbered; "
                    "publish_numbered(sys.argv[1], int(sys.argv[2]), 0.002)", str(tmp_path), str(N_RECORDS))
    expected = {i: as_stored(numbered_record(i)) for i in range(N_RECORDS)}

    def read_trials() -> list[dict[str, Any]]:
        rows = store.read_trials(tmp_path).to_pylist()
        assert all(row == expected[index_of(row["trial_id"])] for row in rows)
        return rows

    def read_dataset() -> list[dict[str, Any]]:
        rows = ds.dataset(folder, format="parquet").to_table().to_pylist()
        assert all(row == expected[index_of(row["trial_id"])] for row in rows)
        return rows

    def read_pandas() -> list[dict[str, Any]]:
        frame = pd.read_parquet(folder)
        if frame.empty:
            return []
        rows = frame[["trial_id", "status", "eval_loss", "eval_losses", "config_json"]].to_dict("records")
        for row in rows:
            want = expected[index_of(row["trial_id"])]
            assert row["status"] == want["status"] and row["eval_loss"] == want["eval_loss"]
            assert list(row["eval_losses"]) == want["eval_losses"] and row["config_json"] == want["config_json"]
        return rows

    counts: list[int] = []  # rows seen by each read, in time order, whatever the reader
    try:
        while writer.poll() is None:
            for read in (read_trials, read_pandas, read_dataset):
                rows = read()
                assert all(row["trial_id"] is not None and row["status"] is not None for row in rows)
                assert len({row["trial_id"] for row in rows}) == len(rows)
                counts.append(len(rows))
    finally:
        if writer.poll() is None:
            writer.kill()
        _, stderr = writer.communicate(timeout=60)
    assert writer.returncode == 0, stderr
    assert counts == sorted(counts), "a later read saw fewer rows"
    assert any(0 < n < N_RECORDS for n in counts), f"no read overlapped the writes: {counts}"
    assert len(read_trials()) == len(read_pandas()) == len(read_dataset()) == N_RECORDS


def test_a_staged_record_is_invisible_to_every_reader(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow.dataset as ds

    store.write_record(tmp_path, numbered_record(0))
    staged = store.stage_record(tmp_path, numbered_record(1))
    folder = tmp_path
    assert staged.exists() and staged.name.startswith(".")
    assert store.read_trials(tmp_path).num_rows == 1
    assert len(pd.read_parquet(folder)) == 1
    assert ds.dataset(folder, format="parquet").count_rows() == 1


def test_two_processes_racing_to_write_the_same_trials_leave_one_row_each(tmp_path: Path) -> None:
    count = 100
    go = tmp_path / "go"
    code = ("import sys; from tests.store_tests.test_live_reader import race_numbered; "
            "race_numbered(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])")
    writers = [python(code, str(tmp_path), str(count), str(tag), str(go)) for tag in (1, 2)]
    try:
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
    for writer, (_, stderr) in zip(writers, outputs):
        assert writer.returncode == 0, stderr
    won = {tag: set(json.loads(out)) for tag, (out, _) in zip((1, 2), outputs)}
    assert won[1] | won[2] == set(range(count)) and not won[1] & won[2]
    rows = store.read_trials(tmp_path).to_pylist()
    assert sorted(index_of(row["trial_id"]) for row in rows) == list(range(count))
    for row in rows:  # each row is whole, and is the one its publisher wrote
        winner = 1 if index_of(row["trial_id"]) in won[1] else 2
        assert row == as_stored(numbered_record(index_of(row["trial_id"]), writer=winner))
    assert not list((tmp_path).glob(".tmp-*"))
