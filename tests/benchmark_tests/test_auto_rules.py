"""benchmarks/auto_rules.py: each way of combining the forms, on constructed backtests."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import auto_rules  # noqa: E402  (benchmarks/auto_rules.py)


def fits(power: float, saturating: float, sigmoid: float) -> dict:
    """Held-out predictions 0, 1, 2 (ln y) for power, saturating, sigmoid, and backtests whose
    RMSE is the given number."""
    return {
        "family": "constructed",
        "observed": np.zeros(2),
        "predictions": {"power": np.zeros(2), "saturating": np.ones(2), "sigmoid": np.full(2, 2.0)},
        "backtests": {"power": np.full(3, power), "saturating": np.full(3, saturating), "sigmoid": np.full(3, sigmoid)},
    }


def test_the_previous_rule_prefers_the_simpler_form_within_5_percent_and_select_does_not() -> None:
    close = fits(power=0.0104, saturating=0.0100, sigmoid=0.05)
    assert auto_rules.predict(close, "select-occam0.05")[0] == 0.0  # power, 4% worse, preferred
    assert auto_rules.predict(close, "select")[0] == 1.0


def test_averaging_within_a_margin_leaves_out_a_form_outside_it() -> None:
    one_far = fits(power=0.1, saturating=0.0100, sigmoid=0.0130)
    assert auto_rules.predict(one_far, "within-0.4")[0] == pytest.approx(1.5)  # saturating and sigmoid
    assert auto_rules.predict(one_far, "within-0.2")[0] == pytest.approx(1.0)  # saturating alone
    weighted = auto_rules.predict(one_far, "inv-2")[0]  # every form, MSE^-2: power nearly nothing
    assert 1.0 < weighted < 1.5


def test_a_curve_without_backtests_falls_back_to_power_under_every_rule() -> None:
    none = fits(0.0, 0.0, 0.0) | {"backtests": {}}
    for rule in auto_rules.RULES:
        assert auto_rules.predict(none, rule)[0] == 0.0


def test_an_unknown_rule_is_named() -> None:
    with pytest.raises(ValueError, match="rule: unknown 'best-guess'"):
        auto_rules.predict(fits(0.1, 0.01, 0.02), "best-guess")
