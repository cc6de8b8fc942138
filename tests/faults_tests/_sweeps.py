"""Helpers for fault tests: run the real ``raylaws`` CLI in its own process group, watch its
sweep directory, kill it, and check a sweep directory's invariants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

import optuna
import psutil
import yaml

from raylaws import store
from raylaws.layout import SweepLayout
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
    path = SweepLayout.at(sweep_dir).events
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
    rows = store.read_trials(SweepLayout.at(sweep_dir).trials).to_pylist()
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate trial_id"
    return {r["trial_id"]: r for r in rows}


def recorded_ray_pids(sweep_dir: Path) -> list[tuple[int, float]]:
    path = SweepLayout.at(sweep_dir).ray_processes
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
        search = [r for r in mine if r["phase"] == "search"]
        assert sorted(r["trial_id"] for r in search) == [f"{size}.s{n:03d}" for n in range(trials_per_size)], size
        configs = [(r["learning_rate"], r["batch_size"]) for r in search]
        assert len(set(configs)) == len(configs), f"{size}: a search config repeats"
        assert sorted(r["seed"] for r in mine if r["phase"] == "seed") == list(range(1, seeds + 1)), size
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(SweepLayout.at(sweep_dir).journal)))
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert len(study.trials) == trials_per_size, summary.study_name
        assert all(t.state.is_finished() for t in study.trials), [t.state for t in study.trials]
    return rows


def events_of_new_runs(sweep_dir: Path, run_ids_before: set[str]) -> list[dict[str, Any]]:
    """Events of driver runs that were not there before (the resumed run)."""
    return [e for e in events(sweep_dir) if e["run"] not in run_ids_before]


def _running_search(sweep_dir: Path) -> bool:
    log = events(sweep_dir)
    finished = {e["trial_id"] for e in log if e["event"] == "finished"}
    running = {e["trial_id"] for e in log if e["event"] == "started"} - finished
    return len(finished) >= 2 and any(".s" in t for t in running)


PAUSED_TRIAL = "L2-H16.s000"  # the first search trial of the largest size of tiny_spec_dict()

KILL_POINTS: dict[str, tuple[Callable[[Path], bool], Optional[dict[str, Any]]]] = {
    # in the search phase, with trials running
    "search": (_running_search, None),
    # just after a trial's record was written, before Optuna was told (the driver pauses there)
    "record": (lambda d: any(e["event"] == "paused" for e in events(d)), {"pause_after_record": PAUSED_TRIAL}),
    # in the seed phase
    "seed": (lambda d: any(e["event"] == "finished" and ".seed" in e["trial_id"] for e in events(d)), None),
}

KILL_SPEC = {"training": {"max_steps": 60, "warmup_steps": 5, "eval_interval": 10, "schedule": "cosine",
                          "checkpoint_every": 20}}


@dataclass
class KillReport:
    """What a kill and the resume that followed left behind."""

    before: dict[str, dict[str, Any]]  # records at the kill
    after: dict[str, dict[str, Any]]  # records once the resume finished
    new_events: list[dict[str, Any]]  # events of the resumed driver
    ray_processes: list[tuple[int, float]]  # the killed driver's local Ray processes
    left_alive_by_kill: list[int]
    alive_after_resume: list[int]
    resume_to_first_trial_seconds: float
    rows_after: int  # rows in the store after the resume (== len(after) unless a trial_id repeats)

    @property
    def retrained(self) -> set[str]:
        return {e["trial_id"] for e in self.new_events if e["event"] == "started"} & set(self.before)

    def count(self, kind: str) -> list[str]:
        return [e["trial_id"] for e in self.new_events if e["event"] == kind]


def kill_and_resume(folder: Path, point: str) -> KillReport:
    """Run the tiny sweep with the real CLI, SIGKILL its process group at ``point``, resume it
    with ``raylaws resume`` and check the sweep ends complete (budgets exact, nothing RUNNING)."""
    when, faults = KILL_POINTS[point]
    spec = write_spec(folder, **KILL_SPEC)
    sweep_dir = folder / "results" / "tiny"
    driver = start_cli("run", str(spec), "--storage", str(folder / "results"), faults=faults)
    wait_for(lambda: when(sweep_dir), driver)
    kill_group(driver)
    before = records(sweep_dir)
    ray_processes = recorded_ray_pids(sweep_dir)
    left_alive = alive(ray_processes)
    runs_before = {e["run"] for e in events(sweep_dir)}

    launched = time.time()
    resumed = start_cli("resume", str(sweep_dir))
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    rows_after = store.read_trials(SweepLayout.at(sweep_dir).trials).num_rows
    after = assert_sweep_complete(sweep_dir, sizes=2, trials_per_size=3, seeds=2)
    new_events = events_of_new_runs(sweep_dir, runs_before)
    first = next(e for e in new_events if e["event"] == "started")
    return KillReport(before, after, new_events, ray_processes, left_alive, alive(ray_processes),
                      datetime.fromisoformat(first["time"]).timestamp() - launched, rows_after)
