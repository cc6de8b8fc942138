"""A real size-aware sweep on Ray records the same trials whichever trials run slow, and after
a SIGKILL of its driver and `raylaws resume`: the same trial ids, configs, outcomes and losses.

Two slots; the fault hooks delay chosen trials before they train, so trials finish (and report
at the pruning rungs) in another order on each run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import raylaws
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict
from tests.faults_tests._sweeps import KILL_SPEC, events, kill_group, records, start_cli, wait_for

pytestmark = pytest.mark.slow

SPEC = tiny_spec_dict(
    search={"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 4,
            "sampler_seed": 0, "parallel": 2, "pruning": {"enabled": True, "grace_steps": 20, "reduction_factor": 2},
            "strategy": "size_aware", "size_aware": {"trials_after_first": 3, "max_extra_trials": 2}},
    seeds=1, **KILL_SPEC)


def outcomes(sweep_dir: Path) -> dict[str, tuple[Any, ...]]:
    return {trial_id: (r["learning_rate"], r["batch_size"], r["seed"], r["status"], r["eval_loss"], r["steps"])
            for trial_id, r in records(sweep_dir).items()}


def run_in_process(folder: Path, delay: dict[str, float], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("RAYLAWS_FAULTS", json.dumps({"delay": delay}))
    sweep = raylaws.run(spec_from_dict(SPEC), storage=folder)
    return outcomes(sweep.path)


def test_slowed_trials_and_a_killed_driver_change_no_record(tmp_path: Path, ray_session: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_in_process(tmp_path / "first", {"L1-H8.s000": 4.0, "L2-H16.s001": 3.0}, monkeypatch)
    second = run_in_process(tmp_path / "second", {"L1-H8.s001": 4.0, "L1-H8.s002": 3.0, "L2-H16.s000": 3.0},
                            monkeypatch)
    assert any(status == "pruned" for _, _, _, status, _, _ in first.values())  # pruning took part
    assert {"L1-H8.seed1", "L2-H16.seed1"} <= set(first)
    assert second == first

    # The same sweep again from the CLI, its driver SIGKILLed once a larger size's trial has
    # started, then resumed: the trials it finishes are the trials of an unbroken run.
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    sweep_dir = tmp_path / "killed" / "tiny"
    driver = start_cli("run", str(spec_path), "--storage", str(tmp_path / "killed"))
    wait_for(lambda: any(e["event"] == "started" and e["trial_id"].startswith("L2-H16.s00")
                         for e in events(sweep_dir)), driver)
    kill_group(driver)
    assert len(records(sweep_dir)) < len(first)  # killed with trials still to run
    resumed = start_cli("resume", str(sweep_dir))
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err[-3000:]
    assert outcomes(sweep_dir) == first
