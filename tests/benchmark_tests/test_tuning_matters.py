"""benchmarks/tuning_matters.py: the middle size, each arm's law and table, and the smoke run."""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.benchmark_tests import load_benchmark
from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "tuning_matters.py"


bench = load_benchmark("tuning_matters")


def size(name: str, n_params: int) -> SimpleNamespace:
    return SimpleNamespace(name=name, n_params=n_params)


def runs_on_a_law(arm: str, sizes: list[SimpleNamespace], seeds: tuple[int, ...] = (1, 2)) -> list[Any]:
    """Runs whose losses lie on 20 N^-0.1 exactly, seeds 1% either side (seed means on the law)."""
    offsets = {1: 0.99, 2: 1.01}
    return [bench.Run(arm, s.name, s.n_params, 1e-2, 32, seed, "completed", 20 * s.n_params ** -0.1 * offsets[seed],
                      700) for s in sizes for seed in seeds]


def test_the_middle_size_is_the_one_nearest_the_middle_of_ln_n_and_the_demos_is_l2() -> None:
    from raylaws.ladder import build_ladder
    from raylaws.spec import load_spec

    demo = build_ladder(load_spec(bench.DEFAULT_SPEC))
    assert [s.n_params for s in demo] == [1_728, 13_824, 46_656, 110_592]
    assert bench.middle_size(demo).name == demo[1].name  # 13,824 = sqrt(1,728 x 110,592)
    even = [size("a", 1), size("b", 10), size("c", 100), size("d", 1000)]  # b and c equally near: the smaller
    assert bench.middle_size(even).name == "b"
    assert bench.middle_size([size("a", 1), size("b", 900), size("c", 1000)]).name == "b"


def test_an_arm_on_an_exact_law_fits_it_and_predicts_its_largest_size() -> None:
    sizes = [size("L1", 1_000), size("L2", 8_000), size("L3", 64_000), size("L4", 512_000)]
    result = bench.fit_arm("tuned", "tuned per size", runs_on_a_law("tuned", sizes))
    assert math.isclose(result.exponent, 0.1, rel_tol=1e-3) and result.r2 > 0.99
    assert abs(result.backtest_re) < 1e-3  # the seed means lie on the law
    low, high = result.exponent_interval
    assert low <= result.exponent <= high
    assert list(result.seed_means) == ["L1", "L2", "L3", "L4"] and not result.marked
    assert math.isclose(result.seed_means["L2"], 20 * 8_000 ** -0.1)


def test_a_diverged_run_counts_with_its_best_loss_and_is_marked_and_one_never_evaluated_is_left_out() -> None:
    sizes = [size("L1", 1_000), size("L2", 8_000), size("L3", 64_000)]
    runs = runs_on_a_law("smallest", sizes)
    runs[-1] = bench.Run("smallest", "L3", 64_000, 6e-2, 32, 2, "diverged", 9.0, 300)  # best loss before diverging
    runs[-2] = bench.Run("smallest", "L3", 64_000, 6e-2, 32, 1, "diverged", None, 20)  # diverged before an eval
    result = bench.fit_arm("smallest", "L1's config for all", runs)
    assert result.seed_means["L3"] == 9.0 and result.marked == {"L3"}
    assert result.backtest_re < -0.2  # the law of L1, L2 predicts 6.62, far below the diverged L3
    lines = bench.table([result], sizes)
    assert lines[0].split()[-3:] == ["L1", "L2", "L3"]
    assert lines[1].endswith("9.0000!") and re.search(r"-\d+\.\d\d%", lines[1])


def test_an_arm_of_two_sizes_has_no_backtest_and_one_of_one_size_no_law() -> None:
    two = bench.fit_arm("middle", "m", runs_on_a_law("middle", [size("L1", 1_000), size("L2", 8_000)]))
    assert two.r2 > 0.99 and math.isnan(two.backtest_re)
    one = bench.fit_arm("middle", "m", runs_on_a_law("middle", [size("L1", 1_000)]))
    assert math.isnan(one.r2) and one.law is None
    cells = bench.table([two, one], [size("L1", 1_000), size("L2", 8_000)])[2].split()
    assert cells[1:5] == ["-", "-", "-", "-"]


def test_a_law_rising_with_n_fits_as_well_but_is_noted_with_the_runs_that_stopped_early() -> None:
    sizes = [size("L1", 1_000), size("L2", 8_000), size("L3", 64_000)]
    rising = [bench.Run("smallest", s.name, s.n_params, 0.13, 32, seed, "completed", 2 * s.n_params ** 0.05,
                        300 if s.name == "L3" and seed == 1 else 700) for s in sizes for seed in (1, 2)]
    result = bench.fit_arm("smallest", "L1's config for all", rising)
    assert result.r2 > 0.99 and math.isclose(result.exponent, -0.05, rel_tol=1e-3)
    notes = bench.notes(result)
    assert any("does not decrease" in note for note in notes)
    assert notes[-1] == "L1's config for all: stopped early by patience: L3 seed 1 at step 300"
    assert bench.notes(bench.fit_arm("tuned", "t", runs_on_a_law("tuned", sizes))) == []


def test_the_runs_written_beside_the_figure_read_back_as_the_same_runs(tmp_path: Path) -> None:
    runs = runs_on_a_law("tuned", [size("L1", 1_000), size("L2", 8_000)])
    runs.append(bench.Run("middle", "L2", 8_000, 2e-2, 16, 1, "diverged", None, 40))
    result = bench.ArmResult("all", "all", runs)
    bench.write_runs([result], tmp_path / "runs.csv")
    assert bench.read_runs(tmp_path / "runs.csv") == runs


def test_a_retrained_run_is_compared_with_the_sweeps_run_of_the_same_size_config_and_seed() -> None:
    sizes = [size("L1", 1_000), size("L2", 8_000)]
    tuned = runs_on_a_law("tuned", sizes)
    same = [bench.Run("smallest", r.size, r.n_params, r.learning_rate, r.batch_size, r.seed, r.status, r.eval_loss,
                      r.steps) for r in tuned[:2]]
    other_lr = [bench.Run("smallest", "L2", 8_000, 3e-2, 32, 1, "completed", 9.0, 700)]
    assert bench.retrained_gap(tuned, same + other_lr) == (2, 0.0)
    moved = [bench.Run("smallest", "L1", 1_000, 1e-2, 32, 1, "completed", tuned[0].eval_loss * 1.01, 700)]
    count, gap = bench.retrained_gap(tuned, moved)
    assert count == 1 and math.isclose(gap, 0.01)
    # the sweep stores one size's copy of a shared learning rate 1 ulp off the others'
    ulp = [bench.Run("smallest", r.size, r.n_params, math.nextafter(r.learning_rate, 1.0), r.batch_size, r.seed,
                     r.status, r.eval_loss, r.steps) for r in tuned[:2]]
    assert bench.retrained_gap(tuned, ulp) == (2, 0.0)


def test_a_folder_that_is_not_a_sweep_is_refused_in_one_line_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"^--sweep: .* is not a readable sweep .*; give the folder"):
        bench.tuned_arm(tmp_path)


@pytest.mark.slow  # a real sweep on a local Ray (~25 s to start), then 12 trainings: about 80 s
def test_the_smoke_test_prints_every_arms_law_and_writes_the_figure(tmp_path: Path) -> None:
    out = tmp_path / "figure.png"
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke-test", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    header, *rows = text.split("== loss ~ N^-alpha")[1].splitlines()[1:5]
    assert header.split() == ["arm", "R²", "alpha", "alpha", "95%", "backtest", "L3-H24", "L1-H8", "L2-H16",
                              "L3-H24"]
    cells = {}
    for label, row in zip(("tuned per size", "L1-H8's config for all", "L2-H16's config for all"), rows):
        assert row.startswith(label), row
        r2, alpha, low, high, backtest, *means = row[len(label):].replace("[", "").replace(",", "").replace(
            "]", "").split()
        assert 0.0 <= float(r2) <= 1.0 and float(low) <= float(alpha) <= float(high)
        assert re.fullmatch(r"[+-]\d+\.\d\d%", backtest) and len(means) == 3
        cells[label] = [float(m.rstrip("!")) for m in means]
    # the arms that train a size with its own chosen config repeat the sweep's runs exactly
    assert cells["L1-H8's config for all"][0] == cells["tuned per size"][0]
    assert cells["L2-H16's config for all"][1] == cells["tuned per size"][1]
    assert re.search(r"^retrained: [1-9]\d* runs repeat a sweep run .* difference 0\.00e\+00$", text, re.MULTILINE)
    assert re.fullmatch(r"tuned_r2=\S+ smallest_r2=\S+ middle_r2=\S+", text.strip().splitlines()[-1])
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    # every arm trains each size over the seeds the sweep ran there (its seeds rule stops a size at 2 or 3)
    with out.with_suffix(".csv").open() as handle:
        written = list(csv.DictReader(handle))
    seeds_of = {arm: sorted((r["size"], r["seed"]) for r in written if r["arm"] == arm) for arm in bench.ARMS}
    assert seeds_of["tuned"] == seeds_of["smallest"] == seeds_of["middle"]
    assert 3 * 2 <= len(seeds_of["tuned"]) <= 3 * 3  # sizes x seeds
