"""SIGKILL the real `raylaws run` process group at three points, then resume.

Each case asserts: no lost record, no duplicate, no finished trial trained again (its record
and finished_at unchanged, never started by the resumed driver), per-size budgets exactly met,
no Optuna trial left RUNNING, and no Ray process of the killed run alive after the resume.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.faults_tests._sweeps import (
    alive,
    assert_sweep_complete,
    events,
    first_start_after,
    kill_group,
    recorded_ray_pids,
    records,
    start_cli,
    wait_for,
    write_spec,
)

pytestmark = pytest.mark.slow

SLOWER = {"training": {"max_steps": 60, "warmup_steps": 5, "eval_interval": 10, "schedule": "cosine",
                       "checkpoint_every": 20}}


def kill_and_resume(tmp_path: Path, when: Callable[[Path], bool], faults: Optional[dict[str, Any]] = None) -> dict:
    spec = write_spec(tmp_path, **SLOWER)
    sweep_dir = tmp_path / "results" / "tiny"
    driver = start_cli("run", str(spec), "--storage", str(tmp_path / "results"), faults=faults)
    wait_for(lambda: when(sweep_dir), driver)
    kill_group(driver)
    before = records(sweep_dir)
    killed_ray = recorded_ray_pids(sweep_dir)
    assert killed_ray, "the killed driver recorded its local Ray's processes"
    runs_before = {e["run"] for e in events(sweep_dir)}

    started = time.monotonic()
    resumed = start_cli("resume", str(sweep_dir))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    after = assert_sweep_complete(sweep_dir, sizes=2, trials_per_size=3, seeds=2)

    for trial_id, record in before.items():  # nothing lost, nothing rewritten
        assert after[trial_id] == record
    new_events = first_start_after(sweep_dir, runs_before)
    restarted = {e["trial_id"] for e in new_events if e["event"] == "started"}
    assert not restarted & set(before), "a finished trial was trained again"
    assert alive(killed_ray) == [], "Ray processes of the killed driver are still alive"
    first_start = next(e for e in new_events if e["event"] == "started")
    return {"before": before, "new_events": new_events, "resume_started": started, "first_start": first_start}


def test_kill_in_search_phase_with_trials_running(tmp_path: Path) -> None:
    def running_search(sweep_dir: Path) -> bool:
        log = events(sweep_dir)
        finished = {e["trial_id"] for e in log if e["event"] == "finished"}
        running = {e["trial_id"] for e in log if e["event"] == "started"} - finished
        return len(finished) >= 2 and any(".s" in t for t in running)

    result = kill_and_resume(tmp_path, running_search)
    reattached = [e["trial_id"] for e in result["new_events"] if e["event"] == "reattached"]
    assert reattached, "the trials that were running are run again under their own ids"


def test_kill_after_a_record_is_written_before_optuna_is_told(tmp_path: Path) -> None:
    target = "L2-H16.s000"

    def paused(sweep_dir: Path) -> bool:
        return any(e["event"] == "paused" and e["trial_id"] == target for e in events(sweep_dir))

    result = kill_and_resume(tmp_path, paused, faults={"pause_after_record": target})
    assert target in result["before"]
    told = [e["trial_id"] for e in result["new_events"] if e["event"] == "told"]
    assert told == [target], "the recorded outcome was told to Optuna on resume, not trained again"


def test_kill_in_seed_phase(tmp_path: Path) -> None:
    def seeding(sweep_dir: Path) -> bool:
        return any(e["event"] == "finished" and ".seed" in e["trial_id"] for e in events(sweep_dir))

    result = kill_and_resume(tmp_path, seeding)
    assert any(r["phase"] == "seed" for r in result["before"].values())
