"""Bad input is refused with a ValueError that names the argument, before any fitting."""

from __future__ import annotations

import numpy as np
import pytest

import raylaws.fit._chinchilla as chinchilla_module
import raylaws.fit._power as power_module
import raylaws.fit._uncertainty as uncertainty_module
from raylaws.fit import ChinchillaLaw, PowerLaw, backtest, off_law

N = np.repeat([1e5, 1e6, 1e7, 1e8], 2)
Y = 10.0 * N**-0.2


@pytest.fixture(autouse=True)
def no_fitting_allowed(monkeypatch):
    """Make any attempt to fit blow up, so each error below must come from validation."""

    def forbidden(*args, **kwargs):
        raise AssertionError("fitting started before the input was validated")

    for module in (power_module, uncertainty_module, chinchilla_module):
        for name in ("fit_from_grid", "fit_resamples", "hierarchical_resamples", "fit_theta",
                     "least_squares_lines", "select_form"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)


def replaced(values, index, value):
    values = np.array(values, dtype=float)
    values[index] = value
    return values


@pytest.mark.parametrize(
    ("n_params", "y", "message"),
    [
        (replaced(N, 3, 0.0), Y, r"n_params: must be positive; got 0.0 at index 3"),
        (replaced(N, 0, -1e6), Y, r"n_params: must be positive"),
        (replaced(N, 5, np.nan), Y, r"n_params: must be finite; got nan at index 5"),
        (replaced(N, 1, np.inf), Y, r"n_params: must be finite"),
        (N, replaced(Y, 2, 0.0), r"y: must be positive; got 0.0 at index 2"),
        (N, replaced(Y, 2, -0.5), r"y: must be positive"),
        (N, replaced(Y, 7, np.nan), r"y: must be finite"),
        (N, Y[:-1], r"n_params and y: lengths differ \(n_params has 8, y has 7\)"),
        (N.reshape(2, 4), Y, r"n_params: expected a 1-D array, got shape \(2, 4\)"),
        ([], [], r"n_params: is empty"),
        (["a"] * 8, Y, r"n_params: expected numbers"),
    ],
)
def test_bad_data_names_the_argument(n_params, y, message):
    with pytest.raises(ValueError, match=message):
        PowerLaw().fit(n_params, y)


def test_fewer_sizes_than_parameters_is_refused():
    with pytest.raises(ValueError, match=r"n_params: 1 distinct value\(s\), but the 'power' form"):
        PowerLaw().fit([1e6, 1e6, 1e6], [1.0, 1.1, 0.9])
    with pytest.raises(ValueError, match=r"n_params: 2 distinct value\(s\), but the 'saturating' "
                       r"form has 3 parameters and needs at least 3"):
        PowerLaw("saturating").fit([1e6, 1e6, 1e7, 1e7], [2.0, 2.1, 1.5, 1.4])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"form": "linear"}, r"form: must be one of 'power', 'saturating', 'sigmoid', 'm4', 'auto', got 'linear'"),
        ({"loss": "l1"}, r"loss: must be 'auto', 'squared' or 'huber', got 'l1'"),
        ({"n_bootstrap": -1}, r"n_bootstrap: must be >= 0, got -1"),
        ({"n_bootstrap": 10.5}, r"n_bootstrap: must be an integer >= 0"),
    ],
)
def test_bad_settings_are_reported_at_fit(settings, message):
    law = PowerLaw(**settings)  # __init__ only stores, as in scikit-learn
    with pytest.raises(ValueError, match=message):
        law.fit(N, Y)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((N, replaced(N, 0, 0.0), Y), r"n_tokens: must be positive"),
        ((N, N, replaced(Y, 4, np.inf)), r"loss: must be finite"),
        ((N, N[:-1], Y), r"n_params and n_tokens and loss: lengths differ"),
        ((N[:4], N[:4], Y[:4]), r"n_params: 4 distinct value\(s\), but ChinchillaLaw has 5"),
    ],
)
def test_chinchilla_bad_data_names_the_argument(args, message):
    with pytest.raises(ValueError, match=message):
        ChinchillaLaw().fit(*args)


def test_analysis_functions_validate_like_fit():
    with pytest.raises(ValueError, match="y: must be positive"):
        backtest(PowerLaw(n_bootstrap=0), N, replaced(Y, 0, 0.0))
    with pytest.raises(ValueError, match="n_params: must be finite"):
        off_law(PowerLaw(n_bootstrap=10), replaced(N, 0, np.nan), Y)
    with pytest.raises(ValueError, match="level: must be strictly between 0 and 1"):
        off_law(PowerLaw(n_bootstrap=10), N, Y, level=95)
