"""A Ray-free stand-in for the runner: trains nothing, finishes each trial at once with a loss
that is a smooth function of its config (or with the status asked for)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from raylaws.trial import Outcome, Status, StopReason
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import final


def fake_runner(monkeypatch: pytest.MonkeyPatch, *, stop_after: Optional[int] = None,
                status: Status = Status.COMPLETED) -> None:
    """Replace :func:`raylaws.tune.run_trials`; ``stop_after`` trials, then a Ctrl-C."""
    import raylaws.tune

    def run_trials(planner: Any, spec: Any, data: Any, layout: Any, **_: Any) -> None:
        done = 0
        while (plan := planner.next_trial()) is not None:
            if stop_after is not None and done >= stop_after:
                planner.interrupt(plan.trial_id)
                raise KeyboardInterrupt
            if status is Status.COMPLETED:
                loss = (math.log10(plan.hparams.learning_rate) + 2.2) ** 2 + 4.0
                planner.complete(plan.trial_id, final(loss))
            else:
                planner.complete(plan.trial_id, Outcome.stopped(status, StopReason.ERROR, None, []), "boom")
            done += 1

    monkeypatch.setattr(raylaws.tune, "run_trials", run_trials)
    monkeypatch.setattr(raylaws.tune, "kill_stale_ray_processes", lambda layout: [])


def write_spec(folder: Path, **overrides: Any) -> Path:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict(**overrides)))
    return path
