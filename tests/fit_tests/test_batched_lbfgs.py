"""The batched L-BFGS behind the nonlinear fits, against scipy's optimisers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from raylaws.fit._bootstrap import hierarchical_resamples
from raylaws.fit._lbfgs import minimize_batch
from raylaws.fit._objective import LogSpaceObjective, SumOfPowers, minimize


def rosenbrock(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = x[:, 0], x[:, 1]
    value = (1 - a) ** 2 + 100 * (b - a**2) ** 2
    gradient = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    return value, gradient


def test_every_problem_in_a_batch_reaches_its_minimum():
    starts = np.array([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [-2.0, 3.0], [1.0, 1.0]])
    result = minimize_batch(rosenbrock, starts, ftol=0.0, gtol=1e-10)
    np.testing.assert_allclose(result.x, 1.0, atol=1e-6)
    assert result.converged.all()


def test_lower_bounds_are_respected():
    def bowl(x, rows):
        return np.sum((x + 3.0) ** 2, axis=1), 2 * (x + 3.0)

    result = minimize_batch(bowl, np.zeros((3, 2)), lower=np.array([-1.0, -np.inf]))
    np.testing.assert_allclose(result.x, [[-1.0, -3.0]] * 3, atol=1e-8)


@pytest.mark.parametrize("model", [SumOfPowers(True, 1), SumOfPowers(True, 2)], ids=["N", "N,D"])
def test_bootstrap_refits_are_at_least_as_good_as_scipy(model):
    rng = np.random.default_rng(0)
    n_points = 60
    ln_x = np.log(10 ** rng.uniform([[7.0], [9.0]], [[10.0], [11.0]], (2, n_points)))
    ln_x = ln_x[: model.n_terms]
    truth = np.array([np.log(1.8), np.log(480.0), np.log(2100.0), 0.34, 0.37])
    truth = truth if model.n_terms == 2 else truth[[0, 1, 3]]
    ln_y = model.log_predict_many(truth[None], ln_x)[0] + rng.normal(0, 0.01, n_points)
    counts = hierarchical_resamples(
        np.arange(n_points), 40, rng, min_distinct_sizes=model.n_coefficients
    ).counts
    objective = LogSpaceObjective(model, ln_x, ln_y, counts, "huber")
    ours = minimize(objective, np.tile(truth, (40, 1)))
    # One problem at a time with scipy: BFGS (Epoch AI's optimiser; pure numpy, so unaffected by
    # the BLAS thread contention that can slow scipy's L-BFGS-B many-fold on a busy machine) and
    # L-BFGS-B on a few. The floor E = 1.8 keeps the bound on ln E inactive.
    for b in range(40):

        def single(theta, b=b):
            value, gradient = objective(theta[None], np.array([b]))
            return float(value[0]), gradient[0]

        bfgs = optimize.minimize(single, truth, jac=True, method="BFGS", options={"gtol": 1e-10})
        assert ours.fun[b] <= bfgs.fun + 1e-12
        if b < 3:
            lbfgsb = optimize.minimize(
                single, truth, jac=True, method="L-BFGS-B",
                options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
            )
            assert ours.fun[b] <= lbfgsb.fun + 1e-12
