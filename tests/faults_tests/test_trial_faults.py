"""Trials that raise: retried up to the configured count, then recorded 'failed'; never best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import raylaws
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict

pytestmark = pytest.mark.slow


def test_raising_trials_are_retried_then_recorded_failed(tmp_path: Path, ray_session: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    flaky, broken = "L1-H8.s001", "L1-H8.s002"
    markers = tmp_path / "attempts"
    monkeypatch.setenv("RAYLAWS_FAULTS", json.dumps({"raise": {flaky: 1, broken: 99}, "marker_dir": str(markers)}))
    spec = spec_from_dict(tiny_spec_dict(
        name="faulty",
        ladder={"aspect_ratio": 8, "layers": [1], "n_heads": 2},
        search={"learning_rate": {"low": 3e-3, "high": 3e-2}, "batch_size": [8], "trials_per_size": 3,
                "pruning": {"enabled": False}},
        seeds=1,
        resources={"cpus_per_trial": 1, "max_retries": 2},
    ))
    sweep = raylaws.run(spec, storage=tmp_path / "results")
    rows = {r["trial_id"]: r for r in sweep.trials().to_pylist()}

    assert len(rows) == 3 + 1, "the sweep went on and met its budget"
    assert rows[flaky]["status"] == "completed"  # failed once, succeeded on its retry
    assert len(list(markers.glob(f"{flaky}.*"))) == 2
    assert rows[broken]["status"] == "failed" and rows[broken]["eval_loss"] is None
    assert rows[broken]["error"] == f"RuntimeError: injected fault in {broken} (attempt 3)"
    assert len(list(markers.glob(f"{broken}.*"))) == 1 + 2  # first attempt plus max_retries
    (best,) = sweep.best_per_size().to_pylist()
    assert best["best_trial_id"] != broken and best["n_failed"] == 1
