"""benchmarks/data.py runs end to end at its smoke-test size and prints every figure."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

FIGURES = ("bpe_train_seconds", "raw_tokens_per_s_0.002gb", "prepare_tokens_per_s_0.002gb", "prepare_vs_raw_0.002gb",
           "prepare_peak_rss_mb_0.004gb", "find_seconds_0.004gb", "core_scaling_0.002gb", "trial_rss_added_mb",
           "batch_ms")


def test_the_data_benchmark_prints_one_line_per_figure() -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "data.py"), "--smoke-test"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    missing = [name for name in FIGURES if name not in figures]
    assert not missing, result.stdout
    assert 0 < float(figures["prepare_vs_raw_0.002gb"]) and float(figures["trial_rss_added_mb"]) < 100
    assert float(figures["find_seconds_0.004gb"]) < 2 and float(figures["batch_ms"]) < 10
