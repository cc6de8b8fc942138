"""The plateau forms (M4, sigmoid), form="auto", degenerate-fit warnings and tables of curves."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from raylaws.fit import DegenerateFitWarning, NotFittedError, PowerLaw, fit_table
from raylaws.fit._sigmoid import PlateauLaw

SIZES = np.geomspace(1e6, 1e10, 14)


def plateau_curve(params, *, gamma=None, noise=0.002, seeds=2, seed=0):
    """Rows (x, y) of an M4 curve (E, L0, A, alpha[, gamma]) with seed noise in ln y."""
    model = PlateauLaw(gamma)
    ln_y = model.log_predict_many(model.to_theta(np.array(params))[None], np.log(SIZES)[None])[0]
    x = np.repeat(SIZES, seeds)
    rng = np.random.default_rng(seed)
    return x, np.exp(np.repeat(ln_y, seeds) + rng.normal(0.0, noise, x.size))


def test_m4_solves_its_implicit_equation():
    x, y = plateau_curve([0.2, 1.0, 1e3, 0.45, 0.6], noise=0.0, seeds=1)
    assert np.all((0.2 < y) & (y < 1.0))
    np.testing.assert_allclose((y - 0.2) / (1.0 - y) ** 0.6, 1e3 * x**-0.45, rtol=1e-9)


def test_m4_form_recovers_its_parameters():
    truth = {"E": 0.2, "L0": 1.0, "A": 1e3, "alpha": 0.45, "gamma": 0.6}
    x, y = plateau_curve(list(truth.values()))
    law = PowerLaw("m4", n_bootstrap=0).fit(x, y)
    assert list(law.params_) == list(truth)
    assert law.params_["E"] == pytest.approx(0.2, abs=0.02)
    assert law.params_["L0"] == pytest.approx(1.0, abs=0.05)
    assert law.params_["alpha"] == pytest.approx(0.45, abs=0.05)
    assert law.params_["gamma"] == pytest.approx(0.6, abs=0.2)


def test_sigmoid_form_recovers_its_parameters():
    x, y = plateau_curve([0.3, 0.9, 2e3, 0.5], gamma=1.0)
    law = PowerLaw("sigmoid", n_bootstrap=0).fit(x, y)
    assert list(law.params_) == ["E", "L0", "A", "alpha"]
    assert law.params_["E"] == pytest.approx(0.3, abs=0.01)
    assert law.params_["L0"] == pytest.approx(0.9, abs=0.02)
    assert law.params_["alpha"] == pytest.approx(0.5, abs=0.03)
    assert law.params_["A"] == pytest.approx(2e3, rel=0.4)


def test_m4_gradient_matches_finite_differences():
    from raylaws.fit._objective import LogSpaceObjective

    x, y = plateau_curve([0.2, 1.0, 1e3, 0.45, 0.6], noise=0.01, seeds=1)
    model = PlateauLaw()
    objective = LogSpaceObjective(model, np.log(x)[None], np.log(y), np.ones((1, x.size)), "squared")
    theta = model.to_theta(np.array([0.25, 1.1, 5e2, 0.4, 0.8]))[None]
    _, gradient = objective(theta, np.arange(1))
    numeric = []
    for i in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[0, i] = 1e-6
        numeric.append((objective(theta + step, np.arange(1))[0] - objective(theta - step, np.arange(1))[0])[0] / 2e-6)
    np.testing.assert_allclose(gradient[0], numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [("power", {"power"}), ("saturating", {"saturating", "sigmoid"}), ("plateau", {"sigmoid", "m4"})],
)
def test_auto_picks_a_form_that_contains_the_curve(shape, expected):
    rng = np.random.default_rng(3)
    x = np.repeat(SIZES, 2)
    if shape == "plateau":
        x, y = plateau_curve([0.3, 1.0, 5e3, 0.6], gamma=1.0, noise=0.003)
    else:
        floor = 1.5 if shape == "saturating" else 0.0
        y = (floor + 60.0 * x**-0.3) * np.exp(rng.normal(0.0, 0.003, x.size))
    law = PowerLaw("auto", n_bootstrap=0).fit(x, y)
    assert law.form_ in expected, law.selection_
    assert law.selection_.runner_up is not None and law.selection_.runner_up != law.form_
    assert law.selection_.reason


def saturating_rows(seed):
    """8 sizes x 2 seeds of y = 1.5 + 60 x^-0.3 with 1% seed noise."""
    x = np.repeat(np.geomspace(1e6, 1e9, 8), 2)
    rng = np.random.default_rng(seed)
    return x, (1.5 + 60.0 * x**-0.3) * np.exp(rng.normal(0.0, 0.01, x.size))


def test_auto_averages_the_forms_that_backtest_alike_and_leaves_out_a_wrong_one():
    x, y = saturating_rows(seed=3)  # saturating, sigmoid and m4 backtest within 40% of each other
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        law = PowerLaw("auto", n_bootstrap=0).fit(x, y)
        members = {name: PowerLaw(name, n_bootstrap=0).fit(x, y) for name in law.selection_.weights}
    weights = law.selection_.weights
    assert set(weights) == {"saturating", "sigmoid", "m4"} and sum(weights.values()) == pytest.approx(1.0)
    assert law.form_ == min(weights, key=law.selection_.scores.__getitem__)
    assert law.params_ == members[law.form_].params_
    at = np.array([2e9, 1e10])
    averaged = np.exp(sum(w * np.log(members[name].predict(at)) for name, w in weights.items()))
    np.testing.assert_allclose(law.predict(at), averaged, rtol=1e-12)
    assert "averaged" in law.selection_.reason and "left out 'power'" in law.selection_.reason


def test_auto_keeps_one_form_when_the_others_backtest_far_worse():
    x, y = saturating_rows(seed=4)
    law = PowerLaw("auto", n_bootstrap=0).fit(x, y)
    assert law.selection_.weights == {"saturating": 1.0}
    np.testing.assert_array_equal(law.predict(SIZES), PowerLaw("saturating", n_bootstrap=0).fit(x, y).predict(SIZES))


def test_an_averaged_law_has_bootstrap_intervals_around_its_prediction():
    x, y = saturating_rows(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        law = PowerLaw("auto", n_bootstrap=40, random_state=0).fit(x, y)
    assert len(law.selection_.weights) > 1
    at = np.array([1e9, 4e9, 1.6e10])
    lo, hi = law.predict_interval(at, 0.95)
    assert np.all((lo < law.predict(at)) & (law.predict(at) < hi))
    assert np.all(np.diff(hi / lo) > 0)  # wider the further it extrapolates
    assert law.predict_replicates(at).shape == (40, 3)


def test_auto_with_too_few_sizes_falls_back_to_power_and_says_so():
    x = np.repeat([1e6, 1e7, 1e8, 1e9], 2)
    law = PowerLaw("auto", n_bootstrap=0).fit(x, 5.0 * x**-0.1)
    assert law.form_ == "power"
    assert "fell back" in law.selection_.reason


@pytest.mark.parametrize("trend", [0.0, 0.05], ids=["flat", "rising"])
def test_a_flat_or_rising_curve_warns_that_the_fit_is_degenerate(trend):
    x = np.repeat(np.geomspace(1e6, 1e9, 8), 3)
    y = 3.0 * x**trend * np.exp(np.random.default_rng(0).normal(0.0, 0.01, x.size))
    with pytest.warns(DegenerateFitWarning, match="does not decrease"):
        law = PowerLaw("saturating", n_bootstrap=0).fit(x, y)
    assert law.problems_


def test_a_rising_power_law_says_what_its_alpha_is_not_that_it_sits_on_a_bound():
    # The power form's alpha has no bound: a rising curve fits alpha < 0, and the warning says so.
    x = np.repeat(np.geomspace(1e3, 1e5, 4), 2)
    with pytest.warns(DegenerateFitWarning):
        law = PowerLaw("power", n_bootstrap=0).fit(x, 2.0 * x**0.05)
    assert law.exponent_ == pytest.approx(-0.05, rel=1e-3)
    assert "parameter alpha is -0.05 (<= 0.001): the law barely falls with x, or rises" in law.problems_
    assert not any("lower bound" in problem for problem in law.problems_)


def test_a_sound_fit_warns_nothing(sweep):
    n, y = sweep(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        assert PowerLaw("saturating", n_bootstrap=0).fit(n, y).problems_ == ()


def test_predict_interval_without_bootstrap_names_the_argument_to_set(sweep):
    n, y = sweep(seed=1)
    law = PowerLaw(n_bootstrap=0).fit(n, y)
    with pytest.raises(NotFittedError, match=r"predict_interval .*set n_bootstrap > 0"):
        law.predict_interval(1e9)


def test_x_is_generic_and_n_params_still_names_it(sweep):
    n, y = sweep(seed=1)
    assert PowerLaw(n_bootstrap=0).fit(n_params=n, y=y).params_ == PowerLaw(n_bootstrap=0).fit(n, y).params_
    with pytest.raises(ValueError, match="tokens: must be positive"):
        PowerLaw(n_bootstrap=0, x_name="tokens").fit(-n, y)


def test_estimators_do_not_import_the_analysis_that_uses_them():
    source = (Path(__file__).resolve().parents[2] / "raylaws" / "fit" / "_power.py").read_text()
    assert "_analysis" not in source


def test_fit_table_fits_one_law_per_group_from_a_csv(tmp_path, sweep):
    lines = ["run,tokens,loss,seed"]
    for name, alpha in (("a", 0.3), ("b", 0.2)):
        n, y = sweep(seed=4, alpha=alpha, n_seeds=2)
        lines += [f"{name},{x},{v},{i % 2}" for i, (x, v) in enumerate(zip(n, y))]
    path = tmp_path / "curves.csv"
    path.write_text("\n".join(lines) + "\n")
    fits = fit_table(path, x="tokens", y="loss", group="run", seed="seed", n_bootstrap=0)
    assert [f.group for f in fits] == ["a", "b"]
    assert [round(f.law.exponent_, 1) for f in fits] == [0.3, 0.2]
    with pytest.raises(ValueError, match="x: no column 'steps'"):
        fit_table(path, x="steps", y="loss")
    with pytest.raises(ValueError, match="seed: seed 0 appears twice"):
        fit_table(path, x="tokens", y="loss", seed="seed")


def test_cli_fits_a_csv_with_the_same_output_as_a_sweep(tmp_path, sweep):
    from typer.testing import CliRunner

    from raylaws.cli import app

    n, y = sweep(seed=5, n_seeds=2)
    path = tmp_path / "curve.csv"
    path.write_text("n,loss\n" + "".join(f"{a},{b}\n" for a, b in zip(n, y)))
    result = CliRunner().invoke(app, ["fit", str(path), "--x", "n", "--y", "loss", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    for expected in ("alpha", "rolling backtest RMSE", "backtest: fit without", "off-law"):
        assert expected in result.output


def test_cli_fit_form_auto_on_a_csv_names_the_forms_it_averaged(tmp_path):
    from typer.testing import CliRunner

    from raylaws.cli import app

    x, y = saturating_rows(seed=3)
    path = tmp_path / "curve.csv"
    path.write_text("n,loss\n" + "".join(f"{a},{b}\n" for a, b in zip(x, y)))
    result = CliRunner().invoke(app, ["fit", str(path), "--x", "n", "--y", "loss", "--form", "auto",
                                      "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    blend = next(line for line in result.output.splitlines() if line.startswith("form: auto = "))
    assert "saturating" in blend and "sigmoid" in blend and "left out 'power'" in result.output
    assert "backtest: fit without the 2 largest sizes" in result.output
