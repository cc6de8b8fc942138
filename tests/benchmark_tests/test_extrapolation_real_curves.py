"""benchmarks/extrapolation.py scores every form on raylaws' own curves (the committed parquet)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import real_curves  # noqa: E402  (benchmarks/real_curves.py)

FORMS = ("power", "saturating", "sigmoid", "m4", "auto")


def test_the_committed_curves_come_from_three_sweeps_with_a_ladder_each() -> None:
    table = pq.read_table(real_curves.REAL_CURVES).to_pylist()
    sweeps = {row["sweep"] for row in table}
    assert sweeps == {"demo", "constant", "demo-2"}
    assert sorted(row["sweep"] for row in table if row["kind"] == "ladder") == sorted(sweeps)
    for row in table:
        assert np.all(np.diff(row["x"]) > 0) and np.all(np.isfinite(row["y"])), row["curve"]


def test_a_curve_that_rises_between_evaluations_is_noisy_and_one_that_flattens_after_the_cut_bends() -> None:
    x = np.arange(1.0, 15.0) * 1e5
    steady = 5.0 * x ** -0.1
    rising = steady.copy()
    rising[5] *= 1.03  # ln y rises 1.2% from the evaluation before
    flattening = np.where(x > 9.5e5, steady[8], steady)  # flat over the held-out part
    assert real_curves.shape(x, steady, held=5) == "steady"
    assert real_curves.shape(x, rising, held=5) == "noisy"
    assert real_curves.shape(x, flattening, held=5) == "late-bend"


def test_every_real_family_prints_a_median_error_per_form_and_auto_over_the_best() -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "extrapolation.py"), "--smoke-test",
                             "--real-only", "--workers", "1"], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    families = {family for family, *_ in real_curves.load()}
    lines = result.stdout.split("median RMSE of ln y")[1].split("95% interval coverage")[0].splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip()}
    assert families <= set(rows), result.stdout
    for family in families:
        curves, *medians, ratio, best = rows[family]
        assert int(curves) == 1 and best in FORMS[:-1]
        assert float(medians[FORMS.index(best)]) > 0 and float(ratio) > 0
    assert rows["ladder"][1 + FORMS.index("m4")] == "nan"  # 3 sizes cannot fit m4's 5 parameters

