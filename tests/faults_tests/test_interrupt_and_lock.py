"""Ctrl-C stops cleanly and resumably; a second driver on the same sweep is refused."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults_tests._sweeps import assert_sweep_complete, events, records, start_cli, wait_for, write_spec

pytestmark = pytest.mark.slow


def test_second_driver_is_refused_and_ctrl_c_leaves_a_resumable_sweep(tmp_path: Path) -> None:
    # Trials of a few seconds each, so the sweep is still running when Ctrl-C arrives.
    spec = write_spec(tmp_path, training={"max_steps": 400, "warmup_steps": 5, "eval_interval": 20})
    storage = tmp_path / "results"
    sweep_dir = storage / "tiny"
    first = start_cli("run", str(spec), "--storage", str(storage))
    wait_for(lambda: any(e["event"] == "finished" for e in events(sweep_dir)), first)

    second = start_cli("run", str(spec), "--storage", str(storage))
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "already being run" in err and f"pid {first.pid}" in err

    first.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-2000:]
    assert "raylaws resume" in err and "Traceback" not in err
    assert "Tuner.restore" not in err  # Tune's own resume hint is wrong for raylaws
    recorded = records(sweep_dir)
    assert 0 < len(recorded) < 10

    resumed = start_cli("resume", str(sweep_dir))
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-2000:]
    after = assert_sweep_complete(sweep_dir, sizes=2, trials_per_size=3, seeds=2)
    assert all(after[trial_id] == row for trial_id, row in recorded.items())


def test_unwritable_storage_is_one_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    process = start_cli("run", str(spec), "--storage", str(not_a_folder / "sub"))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2 and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "is not writable" in err


def test_resume_of_a_missing_sweep_is_one_line(tmp_path: Path) -> None:
    process = start_cli("resume", str(tmp_path / "nothing"))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2 and err.strip().count("\n") == 0 and "not a sweep directory" in err
