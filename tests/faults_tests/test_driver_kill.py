"""SIGKILL the real `raylaws run` process group at three points, then `raylaws resume`.

Each case asserts: no lost record, no duplicate, no finished trial trained again (its record
and finished_at unchanged, never started by the resumed driver), per-size budgets exactly met
and no Optuna trial left RUNNING (both in `kill_and_resume`), and no Ray process of the killed
run alive after the resume.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults_tests._sweeps import KILL_POINTS, PAUSED_TRIAL, kill_and_resume

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_sweep_resumes_with_nothing_lost_or_trained_twice(tmp_path: Path, point: str) -> None:
    report = kill_and_resume(tmp_path, point)
    assert report.before, "some trials had finished before the kill"
    for trial_id, record in report.before.items():  # kept, unchanged (finished_at and result too)
        assert report.after[trial_id] == record
    assert report.retrained == set(), "a finished trial was trained again"
    assert report.ray_processes, "the killed driver had recorded its local Ray's processes"
    assert report.alive_after_resume == [], "Ray processes of the killed driver are still alive"
    if point == "search":
        assert report.count("reattached"), "the trials that were running run again under their own ids"
    if point == "record":
        assert PAUSED_TRIAL in report.before
        # Its recorded outcome is taken from its record, not retrained; so is that of any other
        # trial recorded before the kill whose outcome Optuna had not needed yet (outcomes are
        # told in trial order, when a later ask needs them).
        told = report.count("told")
        assert PAUSED_TRIAL in told and set(told) <= set(report.before), told
    if point == "seed":
        assert any(r["phase"] == "seed" for r in report.before.values())
