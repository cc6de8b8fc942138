"""PowerLaw: the paper's power form and the saturating form, as estimators."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raylaws.fit import NotFittedError, PowerLaw, clone


def test_power_form_recovers_exponent_and_coefficient_from_seed_noise(sweep):
    n, y = sweep(seed=1, A=50.0, alpha=0.3, size_noise=0.005, seed_noise=0.01)
    law = PowerLaw(n_bootstrap=500, random_state=0).fit(n, y)
    assert law.params_["alpha"] == pytest.approx(0.3, abs=0.01)
    assert law.params_["A"] == pytest.approx(50.0, rel=0.1)
    lo, hi = law.confidence_intervals()["alpha"]
    assert lo < 0.3 < hi
    assert hi - lo < 0.03


def test_power_form_is_least_squares_in_log_log_space(sweep):
    n, y = sweep(seed=2)
    law = PowerLaw(n_bootstrap=0).fit(n, y)
    slope, intercept = np.polyfit(np.log(n), np.log(y), 1)
    assert law.exponent_ == pytest.approx(-slope, rel=1e-10)
    assert law.params_["A"] == pytest.approx(np.exp(intercept), rel=1e-10)
    residual = np.log(y) - (intercept + slope * np.log(n))
    total = np.sum((np.log(y) - np.log(y).mean()) ** 2)
    assert law.r2_ == pytest.approx(1 - residual @ residual / total, rel=1e-10)


def test_saturating_form_recovers_floor_coefficient_and_exponent(sweep):
    n, y = sweep(seed=3, E=1.7, A=400.0, alpha=0.3, size_noise=0.002, seed_noise=0.005)
    law = PowerLaw("saturating", n_bootstrap=200, random_state=0).fit(n, y)
    assert list(law.params_) == ["E", "A", "alpha"]
    assert law.params_["E"] == pytest.approx(1.7, abs=0.05)
    assert law.params_["alpha"] == pytest.approx(0.3, abs=0.03)
    assert law.params_["A"] == pytest.approx(400.0, rel=0.25)
    intervals = law.confidence_intervals()
    for name, truth in (("E", 1.7), ("A", 400.0), ("alpha", 0.3)):
        assert intervals[name][0] < truth < intervals[name][1], name


def test_saturating_form_keeps_floor_non_negative_on_pure_power_data(sweep):
    n, y = sweep(seed=4, E=0.0, size_noise=0.0, seed_noise=0.002)
    law = PowerLaw("saturating", n_bootstrap=20, random_state=0).fit(n, y)
    assert law.params_["E"] >= 0.0
    assert np.all(law.bootstrap_params_[:, 0] >= 0.0)
    assert law.exponent_ == pytest.approx(0.3, abs=0.01)


def test_huber_loss_shrugs_off_an_outlying_seed(sweep):
    n, y = sweep(seed=5, size_noise=0.0, seed_noise=0.005)
    y = y.copy()
    y[-1] *= 3.0  # one diverged seed at the largest size
    squared = PowerLaw(loss="squared", n_bootstrap=0).fit(n, y)
    huber = PowerLaw(loss="huber", n_bootstrap=0).fit(n, y)
    assert abs(huber.exponent_ - 0.3) < 0.005
    assert abs(squared.exponent_ - 0.3) > 4 * abs(huber.exponent_ - 0.3)


def test_fitted_attributes_describe_the_data(sweep):
    n, y = sweep(seed=6, n_seeds=3)
    law = PowerLaw(n_bootstrap=50, random_state=0).fit(n[:-1], y[:-1])  # last size: 2 seeds
    assert law.n_sizes_ == 8
    np.testing.assert_array_equal(law.n_seeds_, [3] * 7 + [2])
    np.testing.assert_array_equal(law.sizes_, np.unique(n))
    assert list(law.params_) == ["A", "alpha"]
    assert law.exponent_ == law.params_["alpha"]
    assert law.bootstrap_params_.shape == (50, 2)
    assert law.seed_noise_std_ == pytest.approx(0.01, rel=0.5)


def test_no_bootstrap_is_fast_and_leaves_an_empty_replicate_array(sweep):
    n, y = sweep(seed=7)
    law = PowerLaw(n_bootstrap=0)
    seconds = min(_timed(lambda: law.fit(n, y)) for _ in range(5))
    assert seconds < 0.05
    assert law.bootstrap_params_.shape == (0, 2)
    assert np.isfinite(law.exponent_) and np.isfinite(law.r2_)
    for method in (law.confidence_intervals, lambda: law.predict_interval(1e9)):
        with pytest.raises(NotFittedError, match="n_bootstrap=0"):
            method()


def test_predict_follows_the_input_shape(sweep):
    n, y = sweep(seed=8)
    law = PowerLaw(n_bootstrap=0).fit(n, y)
    scalar = law.predict(1e9)
    assert np.ndim(scalar) == 0
    assert float(scalar) == pytest.approx(law.params_["A"] * 1e9 ** -law.exponent_)
    assert law.predict([1e8, 1e9]).shape == (2,)


def test_predict_validates_its_sizes(sweep):
    law = PowerLaw(n_bootstrap=0).fit(*sweep(seed=8))
    with pytest.raises(ValueError, match="n_params: must be positive; got 0.0 at index 1"):
        law.predict([1e6, 0.0])


def test_prediction_interval_adds_run_noise_to_curve_uncertainty(sweep):
    n, y = sweep(seed=9, size_noise=0.02, seed_noise=0.02)
    law = PowerLaw(n_bootstrap=400, random_state=0).fit(n, y)
    curve = np.subtract(*law.predict_interval(1e8, n_seeds=None)[::-1])
    one_run = np.subtract(*law.predict_interval(1e8, n_seeds=1)[::-1])
    five_runs = np.subtract(*law.predict_interval(1e8, n_seeds=5)[::-1])
    assert curve < five_runs < one_run
    lo, hi = law.predict_interval([1e7, 1e8])
    assert np.all(lo < law.predict([1e7, 1e8])) and np.all(law.predict([1e7, 1e8]) < hi)
    assert law.predict_interval(1e8) == law.predict_interval(1e8)  # deterministic


def test_same_random_state_gives_the_same_bootstrap(sweep):
    n, y = sweep(seed=10)
    first = PowerLaw(n_bootstrap=100, random_state=3).fit(n, y).bootstrap_params_
    second = PowerLaw(n_bootstrap=100, random_state=3).fit(n, y).bootstrap_params_
    other = PowerLaw(n_bootstrap=100, random_state=4).fit(n, y).bootstrap_params_
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_wider_level_gives_wider_intervals(sweep):
    n, y = sweep(seed=11)
    law = PowerLaw(n_bootstrap=300, random_state=0).fit(n, y)
    lo90, hi90 = law.confidence_intervals(0.90)["alpha"]
    lo99, hi99 = law.confidence_intervals(0.99)["alpha"]
    assert lo99 < lo90 < hi90 < hi99


def test_unfitted_law_refuses_to_predict():
    with pytest.raises(NotFittedError, match="not fitted"):
        PowerLaw().predict(1e6)


def test_clone_copies_settings_but_not_the_fit(sweep):
    n, y = sweep(seed=12)
    law = PowerLaw("saturating", loss="huber", n_bootstrap=7, random_state=5).fit(n, y)
    copy = clone(law)
    assert copy.get_params() == law.get_params()
    assert not hasattr(copy, "params_")
    assert repr(copy) == (
        "PowerLaw(form='saturating', loss='huber', n_bootstrap=7, random_state=5, x_name='n_params')"
    )


@settings(max_examples=30, deadline=None)
@given(
    alpha=st.floats(0.05, 1.0),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_power_fit_is_invariant_to_row_order_and_equivariant_to_y_scale(alpha, scale, seed):
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(1e4, 1e9, 6), 3)
    y = 10.0 * n**-alpha * np.exp(rng.normal(0.0, 0.02, n.size))
    base = PowerLaw(n_bootstrap=0).fit(n, y)
    order = rng.permutation(n.size)
    shuffled = PowerLaw(n_bootstrap=0).fit(n[order], y[order])
    scaled = PowerLaw(n_bootstrap=0).fit(n, scale * y)
    assert shuffled.exponent_ == pytest.approx(base.exponent_, rel=1e-9, abs=1e-12)
    assert scaled.exponent_ == pytest.approx(base.exponent_, rel=1e-9, abs=1e-12)
    assert scaled.params_["A"] == pytest.approx(scale * base.params_["A"], rel=1e-9)


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
