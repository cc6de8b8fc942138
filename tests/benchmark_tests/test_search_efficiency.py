"""benchmarks/search_efficiency.py: the grid baseline, its cache, and compute to target."""

from __future__ import annotations

import math
import re
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import raylaws
from raylaws.report import write_report

from tests.benchmark_tests import load_benchmark
from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "search_efficiency.py"


bench = load_benchmark("search_efficiency")
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def record(size: str, loss: float, second: int, *, status: str = "completed", wall: float = 2.0) -> dict[str, Any]:
    return {"size": size, "eval_loss": loss, "status": status, "wall_seconds": wall, "cpus_per_worker": 1,
            "workers": 1, "flops": 1e9, "finished_at": T0 + timedelta(seconds=second)}


def test_the_grid_spans_the_range_ends_included_times_every_batch_size() -> None:
    spec = bench.load_benchmark_spec(None, quick=True)
    points = bench.grid_points(spec, 3)
    lrs = sorted({lr for lr, _ in points})
    assert len(points) == 3 * len(spec.search.batch_size)
    assert math.isclose(lrs[0], spec.search.learning_rate.low) and math.isclose(lrs[-1], spec.search.learning_rate.high)
    assert math.isclose(lrs[1] / lrs[0], lrs[2] / lrs[1])


def seed_run(size: str, seed: int, loss: float, *, status: str = "completed") -> dict[str, Any]:
    return record(size, loss, seed) | {"phase": "seed", "seed": seed, "status": status}


def test_a_size_is_found_when_its_chosen_configs_seed_mean_is_within_tolerance_of_the_grid_optimums() -> None:
    grid_seeds = {"a": {1: 4.0, 2: 4.2}, "b": {1: 3.0, 2: 3.0}}
    rows = [record("a", 3.5, 1) | {"phase": "search"},  # a lucky search run does not count: only the seeds do
            seed_run("a", 1, 4.02), seed_run("a", 2, 4.2),
            seed_run("b", 1, 3.03), seed_run("b", 2, 3.0)]
    result = bench.measure("size_aware", 0, rows, grid_seeds)
    a, b = result.gaps["a"], result.gaps["b"]
    assert math.isclose(a.gap, 0.01 / 4.1) and math.isclose(b.gap, 0.005)
    # the paired differences' standard error: stdev(d) / sqrt(2) = |d1 - d2| / 2
    assert math.isclose(a.stderr, 0.02 / 4.1 / 2) and math.isclose(b.stderr, 0.01 / 2)
    assert a.found(0.005) and b.found(0.005) and result.found(0.005) and not b.found(0.004)
    assert result.trials == 5 and result.flops == 5e9 and result.core_seconds == 10.0


def test_the_compute_ratio_is_infinite_unless_every_size_is_found_on_every_sampler_seed() -> None:
    grid_seeds = {"a": {1: 4.0, 2: 4.0}}
    found = bench.measure("size_aware", 0, [seed_run("a", 1, 4.0), seed_run("a", 2, 4.01)], grid_seeds)
    missed = bench.measure("size_aware", 1, [seed_run("a", 1, 4.1), seed_run("a", 2, 4.1)], grid_seeds)
    failed = bench.measure("size_aware", 2, [seed_run("a", 1, 4.0), seed_run("a", 2, 9.0, status="diverged")],
                           grid_seeds)
    assert math.isclose(bench.compute_ratio([found], 20e9, 0.005), 2e9 / 20e9)
    assert math.isinf(bench.compute_ratio([found, missed], 20e9, 0.005))
    assert math.isinf(failed.gaps["a"].gap) and math.isinf(bench.compute_ratio([found, failed], 20e9, 0.005))
    unseeded = bench.measure("size_aware", 3, [record("a", 4.0, 1) | {"phase": "search"}], grid_seeds)
    assert math.isinf(unseeded.gaps["a"].gap)  # a size with no seed re-run was not found
    assert "*" in bench.table("size_aware", [found, missed], 20e9, 0.005).splitlines()[3]


def test_a_grid_cached_for_another_spec_is_refused_naming_both_keys(tmp_path: Path) -> None:
    path = tmp_path / "grid.parquet"
    bench.write_grid(path, [{"size": "a", "eval_loss": 4.0}], key="aaaa", spec_path="x.yaml", n_lrs=8)
    rows, stamp = bench.read_grid(path, "aaaa")
    assert rows == [{"size": "a", "eval_loss": 4.0}] and "raylaws" in stamp["code_version"]
    with pytest.raises(bench.StaleGrid, match=r"stale: made for grid key aaaa .* not this run's bbbb; rerun with "
                                              r"--regenerate-grid"):
        bench.read_grid(path, "bbbb")


def test_the_grid_key_changes_with_what_decides_a_grid_trial_only() -> None:
    spec = bench.load_benchmark_spec(None, quick=True)
    key = bench.grid_key(spec, 3)
    assert bench.grid_key(bench.search_spec(spec, "random", 2), 3) == key  # search settings do not count
    assert bench.grid_key(spec, 4) != key
    longer = spec.model_copy(update={"training": spec.training.model_copy(update={"max_steps": 31})})
    assert bench.grid_key(longer, 3) != key


def test_the_noise_floor_retrains_each_grid_optimum_a_hair_off_and_with_other_seeds() -> None:
    grid = [record("b", 3.0, 4) | {"learning_rate": 5e-3, "batch_size": 16, "n_params": 200},  # large first, as run
            record("a", 4.0, 1) | {"learning_rate": 1e-2, "batch_size": 16, "n_params": 100},
            record("a", 3.9, 2) | {"learning_rate": 2e-2, "batch_size": 32, "n_params": 100},
            record("a", 3.0, 3, status="pruned") | {"learning_rate": 4e-2, "batch_size": 32, "n_params": 100}]
    optima = bench.grid_optimum_configs(grid)
    assert optima == [bench.Optimum("a", 100, 2e-2, 32, 3.9), bench.Optimum("b", 200, 5e-3, 16, 3.0)]
    jobs = bench.noise_jobs(optima, 0.02, (1, 2))
    assert [job[0] for job in jobs] == ["a"] * 4 + ["b"] * 4
    assert [job[3] for job in jobs] == [0, 0, 1, 2] * 2 and {job[2] for job in jobs[:4]} == {32}
    assert math.isclose(jobs[0][1], 2e-2 * 0.98) and math.isclose(jobs[1][1], 2e-2 * 1.02) and jobs[2][1] == 2e-2
    losses = [3.9, 3.939, 3.861, 3.9039, 3.0, 3.0, 3.003, None]  # a: 0, +1%, -1%, +0.1%; b: 0, 0, +0.1%, failed
    rows = [{"status": "completed" if loss is not None else "failed", "eval_loss": loss} for loss in losses]
    lines, floor = bench.noise_table(optima, rows, 0.02, 0.0025)
    # a: |0|, 1, 1, 0.1 % -> median 0.55%; b: 0, 0, 0.1%, inf -> 0.05%; the floor is their median
    assert math.isclose(floor, statistics.median([0.0055, 0.0005]), rel_tol=1e-6)
    assert lines[1].split() == ["a", "3.9000", "0.02", "32", "+0.00%", "+1.00%", "3.8883", "-1.00%", "+0.10%"]
    assert lines[2].split()[-3:] == ["inf", "+0.10%", "+inf%"]  # a failed retrain counts as infinitely worse
    assert lines[-1].startswith("noise floor (median over sizes of the median |change|): 0.30%")
    assert lines[-1].endswith("the target's tolerance 0.25% is below it")
    assert bench.noise_table(optima, rows, 0.02, 0.01)[0][-1].endswith("1.00% is above it")


@pytest.mark.slow
def test_quick_runs_grid_and_every_strategy_end_to_end(tmp_path: Path) -> None:
    grid = tmp_path / "grid.parquet"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--seeds", "1", "--grid", str(grid),
                           "--storage", str(tmp_path / "sweeps")], capture_output=True, text=True, timeout=900,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"search_compute_ratio=(inf|\d+\.\d{3})", lines[-1]), lines[-1]
    for strategy in ("independent", "size_aware", "random"):
        assert f"== {strategy} (1 sampler seeds)" in done.stdout
        assert re.search(rf"^{strategy}: compute ratio (inf|\d+\.\d{{3}})$", done.stdout, re.MULTILINE)
    assert re.search(r"^0 +[+-]\d+\.\d\d% \+- (nan|inf|\d+\.\d\d)%", done.stdout, re.MULTILINE), done.stdout
    stamp = pq.read_schema(grid).metadata
    assert b"grid_key" in stamp and b"raylaws" in stamp[b"code_version"]
    phases = pq.read_table(grid).column("phase").to_pylist()  # sizes x learning rates x batch sizes; 1 seed
    assert phases.count("grid") == 2 * 3 * 2 and phases.count("seed") == 2 * 1
    check_size_aware_sweep(tmp_path / "sweeps" / "size_aware-0")
    noise = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--grid", str(grid), "--noise-floor"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert noise.returncode == 0, noise.stderr[-3000:]
    assert re.fullmatch(r"noise_floor=\d\.\d{4}", noise.stdout.strip().splitlines()[-1]), noise.stdout
    assert re.search(r"^L1-H8 .*\nL2-H16 ", noise.stdout, re.MULTILINE) and "search_compute_ratio" not in noise.stdout
    stale = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--seeds", "1", "--grid", str(grid),
                            "--grid-lrs", "4"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert stale.returncode != 0 and "--regenerate-grid" in stale.stderr


def check_size_aware_sweep(folder: Path) -> None:
    """The benchmark's size-aware run is a real size-aware sweep: its boxes are in its journal,
    each size recorded its own budget, and the report draws the boxes."""
    sweep = raylaws.open(folder)
    boxes = sweep.search_boxes()
    assert set(boxes) == {"L1-H8", "L2-H16"} and boxes["L1-H8"][0].reason == "spec"
    assert boxes["L2-H16"][0].reason == "one size" and boxes["L2-H16"][0].predicted is not None
    recorded = {row["size"]: row["done"] for row in sweep.status().to_pylist()}
    assert recorded == sweep.budgets()
    assert "box each size searched last" in write_report(sweep, n_bootstrap=0).read_text()
