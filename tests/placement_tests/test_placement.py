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
    assert len(outcome["statuses"]) == 4 and set(outcome["statuses"].values()) == {"completed"}
    holds = outcome["holds"]
    large = [holds[t] for t in holds if t.startswith("L2-H16")]
    tiny = [holds[t] for t in holds if t.startswith("L1-H8")]
    # The large size's two trials (1 GPU each, started first) hold two GPUs; the tiny size's
    # trials pack onto the third meanwhile: the sizes overlap, neither waits for the other.
    # (Sizes are started largest first, so large trials that fill every GPU make the tiny ones
    # wait until a GPU frees; they are never starved for good.)
    assert most_at_once(large) == 2
    assert any(ls < te and ts < le for ls, le in large for ts, te in tiny)
    assert most_at_once(tiny) >= 2


def test_a_two_gpu_size_gets_one_placement_group_of_two_bundles(tmp_path: Path) -> None:
    outcome = run_scenario("data_parallel", tmp_path)
    assert outcome["statuses"] == {"L1-H8.s000": "completed"}
    assert outcome["workers"] == {"L1-H8.s000": 2}
    worker_bundle = {"CPU": 1.0, "GPU": 1.0}
    assert any(sum(b == worker_bundle for b in group) == 2 for group in outcome["placement_groups"]), \
        outcome["placement_groups"]
