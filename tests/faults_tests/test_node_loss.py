"""Losing the worker node that runs a trial: the trial continues elsewhere from its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_trial_continues_from_its_checkpoint_on_another_node(tmp_path: Path) -> None:
    # A process of its own: the multi-node cluster must not meet the test session's Ray.
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("_node_loss.py")), str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=REPO,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["checkpointed_before_loss"] and report["finished"]
    (row,) = report["rows"]  # recorded once
    assert row["status"] == "completed" and row["steps"] == 1200
    assert row["resumed_from_step"] is not None and 0 < row["resumed_from_step"] < 1200
