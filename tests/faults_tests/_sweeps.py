"""Helpers for fault tests: run the real ``raylaws`` CLI in its own process group, watch its
sweep directory, kill it, and check a sweep directory's invariants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import optuna
import psutil
import yaml

from raylaws import store
from raylaws.search import EVENTS_FILE, JOURNAL_FILE
from tests.conftest import REPO, tiny_spec_dict


def write_spec(folder: Path, **overrides: Any) -> Path:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict(**overrides)))
    return path


def start_cli(*args: str, faults: Optional[dict[str, Any]] = None) -> subprocess.Popen:
    """``raylaws ARGS`` in a new process group (so the whole group can be killed)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    env.pop("RAYLAWS_FAULTS", None)
    if faults:
        env["RAYLAWS_FAULTS"] = json.dumps(faults)
    return subprocess.Popen([sys.executable, "-m", "raylaws.cli", *args, "--quiet"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def events(sweep_dir: Path) -> list[dict[str, Any]]:
    path = sweep_dir / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"raylaws exited early ({process.returncode}): {process.stderr.read()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the driver's whole process group, as a preempted job or `kill -9 -PGID` would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def records(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    rows = store.read_trials(sweep_dir).to_pylist()
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate trial_id"
    return {r["trial_id"]: r for r in rows}


def recorded_ray_pids(sweep_dir: Path) -> list[tuple[int, float]]:
    path = sweep_dir / "ray-processes.json"
    if not path.exists():
        return []
    return [(p["pid"], p["create_time"]) for p in json.loads(path.read_text())["processes"]]


def alive(processes: list[tuple[int, float]]) -> list[int]:
    found = []
    for pid, created in processes:
        try:
            if abs(psutil.Process(pid).create_time() - created) < 0.01 and psutil.Process(pid).status() != "zombie":
                found.append(pid)
        except psutil.Error:
            continue
    return found


def assert_sweep_complete(sweep_dir: Path, *, sizes: int, trials_per_size: int, seeds: int) -> dict[str, dict]:
    """Every budget exactly met, one record per trial, no Optuna trial left RUNNING."""
    rows = records(sweep_dir)
    by_size: dict[str, list[dict]] = {}
    for row in rows.values():
        by_size.setdefault(row["size"], []).append(row)
    assert len(by_size) == sizes
    for size, mine in by_size.items():
        assert sum(r["phase"] == "search" for r in mine) == trials_per_size, size
        assert sorted(r["seed"] for r in mine if r["phase"] == "seed") == list(range(1, seeds + 1)), size
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(sweep_dir / JOURNAL_FILE)))
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert len(study.trials) == trials_per_size, summary.study_name
        assert all(t.state.is_finished() for t in study.trials), [t.state for t in study.trials]
    return rows


def first_start_after(sweep_dir: Path, run_ids_before: set[str]) -> list[dict[str, Any]]:
    """Events of driver runs that were not there before (the resumed run)."""
    return [e for e in events(sweep_dir) if e["run"] not in run_ids_before]
