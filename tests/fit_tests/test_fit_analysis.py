"""backtest, off_law and compare: the paper's three uses of a fitted law."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from raylaws.fit import (
    BacktestResult,
    Comparison,
    NotFittedError,
    PowerLaw,
    backtest,
    compare,
    off_law,
)

OFF_LAW_COLUMNS = [
    "n_params", "n_seeds", "observed", "predicted", "lo", "hi", "flagged", "direction",
    "rel_deviation",
]


# ---------------------------------------------------------------------------------- backtest


def test_backtest_scores_the_largest_sizes_with_a_law_fitted_on_the_rest(sweep):
    n, y = sweep(seed=0, size_noise=0.0, seed_noise=0.005)
    law = PowerLaw(n_bootstrap=0)
    result = backtest(law, n, y, holdout=2)
    assert isinstance(result, BacktestResult)
    assert isinstance(result.table, pa.Table)
    assert result.table.column_names == ["n_params", "n_seeds", "observed", "predicted", "re"]
    np.testing.assert_array_equal(result.table["n_params"].to_numpy(), np.unique(n)[-2:])
    assert result.law.sizes_.max() < np.unique(n)[-2]
    assert not hasattr(law, "params_")  # the law passed in is cloned, not fitted
    assert result.mre < 0.01


def test_backtest_relative_error_is_signed_and_mre_is_its_mean_magnitude(sweep):
    n, y = sweep(seed=1, size_noise=0.0, seed_noise=0.001)
    y = np.where(n == n.max(), y * 1.10, y)  # largest size 10% worse than the law
    result = backtest(PowerLaw(n_bootstrap=0), n, y, holdout=2)
    re = result.table["re"].to_numpy()
    observed = result.table["observed"].to_numpy()
    predicted = result.table["predicted"].to_numpy()
    np.testing.assert_allclose(re, (predicted - observed) / observed)
    assert re[-1] == pytest.approx(1 / 1.10 - 1, abs=0.01)  # prediction below what was seen
    assert result.mre == pytest.approx(np.mean(np.abs(re)))


def test_backtest_refuses_to_hold_out_too_many_sizes(sweep):
    n, y = sweep(seed=2)
    with pytest.raises(ValueError, match="holdout: holding out 7 of 8 sizes leaves 1"):
        backtest(PowerLaw(n_bootstrap=0), n, y, holdout=7)
    with pytest.raises(ValueError, match="holdout: must be a positive integer"):
        backtest(PowerLaw(n_bootstrap=0), n, y, holdout=0)


# ----------------------------------------------------------------------------------- off_law


def test_off_law_flags_an_early_stopped_size_above_the_line(sweep):
    n, y = sweep(seed=3, size_noise=0.005, seed_noise=0.01)
    stalled = np.unique(n)[4]
    y = np.where(n == stalled, y * 1.15, y)  # stopped too early: 15% higher loss
    table = off_law(PowerLaw(n_bootstrap=300, random_state=0), n, y)
    assert table.column_names == OFF_LAW_COLUMNS
    rows = table.to_pylist()
    assert [row["n_params"] for row in rows] == list(np.unique(n))
    flagged = [row for row in rows if row["flagged"]]
    assert [row["n_params"] for row in flagged] == [stalled]
    assert flagged[0]["direction"] == "above"
    assert flagged[0]["rel_deviation"] == pytest.approx(0.15, abs=0.04)
    assert all(row["direction"] is None for row in rows if not row["flagged"])


def test_off_law_flags_a_size_below_the_line(sweep):
    n, y = sweep(seed=4, size_noise=0.005, seed_noise=0.01)
    lucky = np.unique(n)[3]
    table = off_law(PowerLaw(n_bootstrap=300, random_state=0), n, np.where(n == lucky, y * 0.85, y))
    row = table.filter(table["flagged"]).to_pylist()
    assert [(r["n_params"], r["direction"]) for r in row] == [(lucky, "below")]
    assert row[0]["observed"] < row[0]["lo"] < row[0]["predicted"] < row[0]["hi"]


def test_off_law_flags_nothing_on_a_clean_sweep(sweep):
    n, y = sweep(seed=5, size_noise=0.005, seed_noise=0.01)
    table = off_law(PowerLaw(n_bootstrap=300, random_state=0), n, y)
    assert not any(table["flagged"].to_pylist())


def test_off_law_of_a_fitted_law_alone_checks_the_data_it_was_fitted_to(sweep):
    n, y = sweep(seed=6)
    law = PowerLaw(n_bootstrap=100, random_state=1).fit(n, y)
    assert off_law(law).equals(off_law(law, n, y))


def test_off_law_needs_a_bootstrap_for_its_intervals(sweep):
    n, y = sweep(seed=7)
    with pytest.raises(ValueError, match="law: off_law needs prediction intervals"):
        off_law(PowerLaw(n_bootstrap=0), n, y)


# ----------------------------------------------------------------------------------- compare


def test_compare_finds_the_better_design_with_paired_replicates(sweep):
    n, y = sweep(seed=8, size_noise=0.02, seed_noise=0.005)
    # Design b: the same runs 3% worse everywhere, so the shared size noise is common to both.
    law_a = PowerLaw(n_bootstrap=500, random_state=3).fit(n, y)
    law_b = PowerLaw(n_bootstrap=500, random_state=3).fit(n, y * 1.03)
    result = compare(law_a, law_b, at=1e9)
    assert isinstance(result, Comparison)
    assert result.paired
    assert result.difference == pytest.approx(float(law_a.predict(1e9) - law_b.predict(1e9)))
    assert result.difference < 0
    assert result.ci[0] <= result.difference <= result.ci[1] < 0
    assert result.p_a_better == 1.0


def test_pairing_cancels_the_shared_size_noise(sweep):
    n, y = sweep(seed=9, size_noise=0.02, seed_noise=0.005)
    law_a = PowerLaw(n_bootstrap=500, random_state=3).fit(n, y)
    paired = compare(law_a, PowerLaw(n_bootstrap=500, random_state=3).fit(n, y * 1.03), at=1e9)
    unpaired = compare(law_a, PowerLaw(n_bootstrap=500, random_state=4).fit(n, y * 1.03), at=1e9)
    assert paired.paired and not unpaired.paired
    assert paired.ci[1] - paired.ci[0] < 0.2 * (unpaired.ci[1] - unpaired.ci[0])


def test_compare_of_a_law_with_itself_is_a_coin_flip(sweep):
    n, y = sweep(seed=10)
    law = PowerLaw(n_bootstrap=200, random_state=0).fit(n, y)
    result = compare(law, law, at=1e9)
    assert result.difference == 0.0
    assert result.ci == (0.0, 0.0)
    assert result.p_a_better == 0.5


def test_compare_on_different_sizes_is_unpaired(sweep):
    n, y = sweep(seed=11)
    keep = n != np.unique(n)[0]
    law_a = PowerLaw(n_bootstrap=100, random_state=0).fit(n, y)
    law_b = PowerLaw(n_bootstrap=100, random_state=0).fit(n[keep], y[keep])
    assert not compare(law_a, law_b, at=1e9).paired


def test_compare_needs_bootstrapped_laws(sweep):
    n, y = sweep(seed=12)
    with_bootstrap = PowerLaw(n_bootstrap=50, random_state=0).fit(n, y)
    without = PowerLaw(n_bootstrap=0).fit(n, y)
    with pytest.raises(NotFittedError, match="n_bootstrap=0"):
        compare(with_bootstrap, without, at=1e9)
    with pytest.raises(ValueError, match="at: must be positive"):
        compare(with_bootstrap, with_bootstrap, at=-1.0)
