"""SIGKILL a real size-aware `raylaws run` once the larger size's search has started, then
`raylaws resume`: the boxes stored before the kill are the boxes searched after it, nothing
finished is trained again, and every size records exactly its own budget."""

from __future__ import annotations

from pathlib import Path

import pytest

import raylaws
from tests.faults_tests._sweeps import (KILL_SPEC, events, events_of_new_runs, kill_group, records, start_cli,
                                        wait_for, write_spec)

pytestmark = pytest.mark.slow

SEARCH = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 3,
          "sampler_seed": 0, "pruning": {"enabled": False},  # the smallest size's trials complete: a prediction
          "strategy": "size_aware", "size_aware": {"trials_after_first": 2}}


def _larger_size_started(sweep_dir: Path) -> bool:
    return any(e["event"] == "started" and e["trial_id"].startswith("L2-H16.s") for e in events(sweep_dir))


def test_a_killed_size_aware_sweep_resumes_in_the_same_boxes(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, search=SEARCH, seeds=1, **KILL_SPEC)
    sweep_dir = tmp_path / "results" / "tiny"
    driver = start_cli("run", str(spec), "--storage", str(tmp_path / "results"))
    wait_for(lambda: _larger_size_started(sweep_dir), driver)
    kill_group(driver)
    before = records(sweep_dir)
    boxes_before = raylaws.open(sweep_dir).search_boxes()
    assert boxes_before["L2-H16"][0].predicted is not None  # the larger size's box was made before the kill
    runs_before = {e["run"] for e in events(sweep_dir)}

    resumed = start_cli("resume", str(sweep_dir))
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err[-3000:]
    sweep = raylaws.open(sweep_dir)
    after = records(sweep_dir)
    boxes_after = sweep.search_boxes()
    for size, boxes in boxes_before.items():
        assert boxes_after[size][:len(boxes)] == boxes, size
    for trial_id, record in before.items():
        assert after[trial_id] == record
    restarted = {e["trial_id"] for e in events_of_new_runs(sweep_dir, runs_before) if e["event"] == "started"}
    assert not restarted & set(before), "a finished trial was trained again"
    recorded = {row["size"]: row["done"] for row in sweep.status().to_pylist()}
    assert recorded == sweep.budgets()
    for size in ("L1-H8", "L2-H16"):
        configs = [(r["learning_rate"], r["batch_size"]) for r in after.values()
                   if r["size"] == size and r["phase"] == "search"]
        assert len(configs) == len(set(configs)), f"{size}: a search config repeats"
    first = next(r for r in after.values() if r["trial_id"] == "L2-H16.s000")
    assert (first["learning_rate"], first["batch_size"]) == (boxes_after["L2-H16"][0].predicted.learning_rate,
                                                            boxes_after["L2-H16"][0].predicted.batch_size)
    assert not [c for c in sweep.check() if c.kind == "journal"]
