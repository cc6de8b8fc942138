"""Placement on declared GPUs, tested without GPUs: a real multi-node Ray whose nodes declare
GPUs schedules trials by their size's resources (training stays on the CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run_scenario(name: str, tmp_path: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.placement_tests._placement", name, str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def most_at_once(intervals: list[list[float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_eight_trials_of_an_eighth_of_a_gpu_run_at_once_on_one_gpu(tmp_path: Path) -> None:
    outcome = run_scenario("fractional", tmp_path)
    assert len(outcome["statuses"]) == 8 and set(outcome["statuses"].values()) == {"completed"}
    assert most_at_once(list(outcome["holds"].values())) == 8


def test_tiny_and_large_sizes_interleave_without_starvation(tmp_path: Path) -> None:
    outcome = run_scenario("mixed", tmp_path)
    assert len(outcome["statuses"]) == 8 and set(outcome["statuses"].values()) == {"completed"}
    holds = outcome["holds"]
    large = [holds[t] for t in holds if t.startswith("L2-H16")]
    tiny = [holds[t] for t in holds if t.startswith("L1-H8")]
    # The large size (1 GPU) runs one trial at a time beside the tiny size's packed trials on
    # the other GPU: the two sizes overlap, and never more than 2 large trials hold GPUs.
    assert most_at_once(large) <= 2
    assert any(ls < te and ts < le for ls, le in large for ts, te in tiny)
    assert most_at_once(tiny) >= 4
