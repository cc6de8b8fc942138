"""What a fitted law is for (Ivgi et al. 2022): backtests, off-law detection, model selection.

Tables are `pyarrow.Table`s, like the rest of raylaws's results. N is the non-embedding
parameter count throughout, as in `PowerLaw`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from raylaws.fit import _validate
from raylaws.fit._base import clone
from raylaws.fit._bootstrap import group_sizes, percentile_interval

if TYPE_CHECKING:
    # Only for annotations: the estimators do not import this module, nor it them, so there is
    # no cycle (scikit-learn's rule: the analysis uses estimators, never the other way round).
    from raylaws.fit._power import PowerLaw


@dataclass(frozen=True)
class BacktestResult:
    """How well a law fitted on the smaller sizes predicts the largest ones (the paper's Table 2).

    Attributes:
        table: One row per held-out size: ``n_params`` (N, non-embedding), ``n_seeds``,
            ``observed`` (mean y over its seeds), ``predicted`` (y from the law fitted without
            the held-out sizes) and ``re``, the signed relative error
            (predicted - observed) / observed: negative when the law predicts a lower loss than
            was observed (over-optimistic).
        mre: Mean |re| over the held-out sizes (the paper's MRE).
        law: The law fitted on the remaining smaller sizes.
    """

    table: pa.Table
    mre: float
    law: PowerLaw


@dataclass(frozen=True)
class Comparison:
    """Two laws' predictions at one N, compared through their bootstrap replicates.

    Attributes:
        at: N (non-embedding parameters) at which the laws are compared.
        difference: law_a's prediction minus law_b's.
        ci: Percentile bootstrap interval of the difference.
        level: Coverage of `ci`.
        p_a_better: Fraction of replicates in which law_a predicts the lower y (lower is better:
            loss, or 1 - metric); ties count one half.
        paired: Whether the replicates were paired: both laws were fitted on the same sizes and
            drew the same size resamples (same int `random_state`), so replicate b of each law
            saw the same sizes and the shared size-to-size variation cancels in the difference.
            Otherwise the replicates are independent draws.
    """

    at: float
    difference: float
    ci: tuple[float, float]
    level: float
    p_a_better: float
    paired: bool


def backtest(law: PowerLaw, n_params: ArrayLike, y: ArrayLike, holdout: int = 2) -> BacktestResult:
    """Fit on all but the `holdout` largest sizes and score the predictions of those sizes.

    The paper's predictive-power test: fit on the small models, predict the largest, report the
    relative error per held-out size and their mean absolute value (MRE).

    Args:
        law: An unfitted or fitted `PowerLaw`; a fresh clone (same constructor arguments) is
            fitted, `law` itself is left alone.
        n_params: (n_rows,) non-embedding parameter count of each row; equal N are seeds.
        y: (n_rows,) loss (or 1 - metric) of each row.
        holdout: Number of largest sizes to hold out.

    Returns:
        The per-size table, the MRE and the fitted law.

    Raises:
        ValueError: On bad input (as `PowerLaw.fit`), a non-positive `holdout`, or too few sizes
            left to fit after holding out.
    """
    n_values, y_values, sizes = _check_data(n_params, y)
    if isinstance(holdout, bool) or not isinstance(holdout, (int, np.integer)) or holdout < 1:
        raise ValueError(f"holdout: must be a positive integer, got {holdout!r}")
    n_fit_sizes = sizes.size - int(holdout)
    n_coefficients = law.n_coefficients
    if n_fit_sizes < n_coefficients:
        raise ValueError(
            f"holdout: holding out {holdout} of {sizes.size} sizes leaves {max(n_fit_sizes, 0)} "
            f"to fit, but the {law.form!r} form needs at least {n_coefficients}"
        )
    held_out = sizes[n_fit_sizes:]
    train = n_values < held_out[0]
    fitted = clone(law).fit(n_values[train], y_values[train])

    observed = np.array([y_values[n_values == size].mean() for size in held_out])
    n_seeds = np.array([np.count_nonzero(n_values == size) for size in held_out])
    predicted = np.asarray(fitted.predict(held_out), dtype=np.float64)
    relative_error = (predicted - observed) / observed
    table = pa.table(
        {
            "n_params": pa.array(held_out, pa.float64()),
            "n_seeds": pa.array(n_seeds, pa.int64()),
            "observed": pa.array(observed, pa.float64()),
            "predicted": pa.array(predicted, pa.float64()),
            "re": pa.array(relative_error, pa.float64()),
        }
    )
    return BacktestResult(table=table, mre=float(np.mean(np.abs(relative_error))), law=fitted)


def off_law(
    law: PowerLaw,
    n_params: ArrayLike | None = None,
    y: ArrayLike | None = None,
    level: float = 0.95,
) -> pa.Table:
    """Flag sizes that lie off the law fitted to the other sizes (the paper's convergence check).

    For each size, a fresh clone of `law` is fitted without it, and the size is flagged when the
    geometric mean of its seeds' y falls outside that fit's `level` prediction interval for a
    mean over that many seeds (`PowerLaw.predict_interval`, fit uncertainty plus run-to-run
    noise). A size above the line (higher loss than predicted) is the typical sign of a run that
    was under-trained or stopped too early. Each test is at `level`, so with many sizes an
    occasional flag is expected by chance; and a far-off size inflates the run-to-run noise
    estimated in the fits that include it, widening the other sizes' intervals, so re-check
    after fixing a flagged size.

    Args:
        law: An unfitted or fitted `PowerLaw` with ``n_bootstrap > 0``; it is cloned, not
            refitted.
        n_params: (n_rows,) non-embedding parameter count (or other scale x) of each row; equal
            values are seeds. None, with `y` None too: the data `law` was fitted to.
        y: (n_rows,) loss (or 1 - metric) of each row; lower is better.
        level: Coverage of the prediction interval.

    Returns:
        One row per size, ascending: ``n_params``, ``n_seeds``, ``observed`` (geometric mean of
        y over the size's seeds, the quantity the log-space fit models), ``predicted`` (by the
        fit without this size), ``lo`` and ``hi`` (its prediction interval), ``flagged``,
        ``direction`` (``"above"``, ``"below"`` or null) and ``rel_deviation``
        ((observed - predicted) / predicted).

    Raises:
        ValueError: On bad input (as `PowerLaw.fit`), ``law.n_bootstrap == 0``, or too few sizes
            to fit once one is left out.
    """
    level = _validate.level(level)
    if n_params is None and y is None:
        law._check_fitted()
        n_params, y = law.x_, law.y_
    n_values, y_values, sizes = _check_data(n_params, y)
    if law.n_bootstrap == 0:
        raise ValueError(
            "law: off_law needs prediction intervals, so law.n_bootstrap must be > 0 "
            f"(got {law!r})"
        )
    n_coefficients = law.n_coefficients
    if sizes.size - 1 < n_coefficients:
        raise ValueError(
            f"n_params: {sizes.size} distinct sizes; leaving one out must leave at least "
            f"{n_coefficients} for the {law.form!r} form, so at least {n_coefficients + 1} "
            "are needed"
        )
    columns: dict[str, list] = {
        name: []
        for name in ("n_params", "n_seeds", "observed", "predicted", "lo", "hi", "flagged",
                     "direction", "rel_deviation")
    }
    for size in sizes:
        this_size = n_values == size
        fitted = clone(law).fit(n_values[~this_size], y_values[~this_size])
        n_seeds = int(np.count_nonzero(this_size))
        observed = float(np.exp(np.mean(np.log(y_values[this_size]))))
        predicted = float(fitted.predict(size))
        lo, hi = (float(bound) for bound in fitted.predict_interval(size, level, n_seeds=n_seeds))
        direction = "above" if observed > hi else "below" if observed < lo else None
        columns["n_params"].append(float(size))
        columns["n_seeds"].append(n_seeds)
        columns["observed"].append(observed)
        columns["predicted"].append(predicted)
        columns["lo"].append(lo)
        columns["hi"].append(hi)
        columns["flagged"].append(direction is not None)
        columns["direction"].append(direction)
        columns["rel_deviation"].append((observed - predicted) / predicted)
    return pa.table(columns, schema=_OFF_LAW_SCHEMA)


_OFF_LAW_SCHEMA = pa.schema(
    [
        ("n_params", pa.float64()),
        ("n_seeds", pa.int64()),
        ("observed", pa.float64()),
        ("predicted", pa.float64()),
        ("lo", pa.float64()),
        ("hi", pa.float64()),
        ("flagged", pa.bool_()),
        ("direction", pa.string()),
        ("rel_deviation", pa.float64()),
    ]
)


def compare(law_a: PowerLaw, law_b: PowerLaw, *, at: float, level: float = 0.95) -> Comparison:
    """Compare two fitted laws' predictions at N (the paper's model selection, e.g. PMI vs MLM).

    Args:
        law_a: A fitted `PowerLaw` with bootstrap replicates.
        law_b: Another, e.g. the same sizes trained with a different design.
        at: N (non-embedding parameters) to compare at, typically beyond the fitted sizes.
        level: Coverage of the interval of the difference.

    Returns:
        The difference a - b, its bootstrap interval and P(a predicts the lower y).

    Raises:
        NotFittedError: When either law is unfitted or was fitted with ``n_bootstrap=0``.
        ValueError: On a bad `at` or `level`.
    """
    level = _validate.level(level)
    n_at = _validate.positive_finite("at", at, allow_scalar=True)
    if n_at.ndim != 0:
        raise ValueError(f"at: expected one N, got shape {n_at.shape}")
    replicates_a = law_a.predict_replicates(n_at)
    replicates_b = law_b.predict_replicates(n_at)
    paired = bool(
        np.array_equal(law_a.sizes_, law_b.sizes_)
        and np.array_equal(law_a._bootstrap_size_draws, law_b._bootstrap_size_draws)
    )
    n_replicates = min(replicates_a.size, replicates_b.size)
    differences = replicates_a[:n_replicates] - replicates_b[:n_replicates]
    lo, hi = percentile_interval(differences, level)
    p_a_better = float(np.mean(differences < 0) + 0.5 * np.mean(differences == 0))
    return Comparison(
        at=float(n_at),
        difference=float(law_a.predict(n_at) - law_b.predict(n_at)),
        ci=(float(lo), float(hi)),
        level=level,
        p_a_better=p_a_better,
        paired=paired,
    )


def _check_data(n_params: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_values = _validate.positive_finite("n_params", n_params)
    y_values = _validate.positive_finite("y", y)
    _validate.same_length(n_params=n_values, y=y_values)
    sizes, _, _ = group_sizes(n_values)
    return n_values, y_values, sizes


@dataclass(frozen=True)
class Reliability:
    """Whether a fitted law's extrapolations can be used, judged by extrapolation, not R².

    Attributes:
        reliable: True when the law backtested within `max_backtest_rmse`, its interval at
            `at` is narrower than `max_width`, and the fit is not degenerate.
        backtest_rmse: The law's rolling-origin backtest RMSE of ln y (nan: not run).
        width: Relative width hi / lo - 1 of the 95% prediction interval at `at` (nan without
            a bootstrap).
        at: Where the width was taken: 4x the largest fitted size.
        reasons: Why it is not reliable, one phrase each (empty when reliable).
    """

    reliable: bool
    backtest_rmse: float
    width: float
    at: float
    reasons: tuple[str, ...]


def reliability(
    law: PowerLaw, *, max_backtest_rmse: float = 0.03, max_width: float = 0.25
) -> Reliability:
    """Judge a fitted law by how its own extrapolations fared and how wide its intervals are.

    The R² of the fit says how well the law describes the sizes it was fitted on, which is a
    poor guide to how well it extrapolates; this uses the rolling-origin backtest error
    (`PowerLaw.backtest_rmse_`: fit on smaller sizes, predict larger) and the width of the 95%
    prediction interval 4x beyond the largest size.

    Args:
        law: A fitted `PowerLaw` (with ``n_bootstrap > 0`` for the width and the backtest).
        max_backtest_rmse: Largest acceptable backtest RMSE of ln y (0.03: about 3% error).
        max_width: Largest acceptable relative interval width.

    Returns:
        The verdict and the figures behind it.
    """
    law._check_fitted()
    at = float(law.sizes_[-1] * 4.0)
    width = float("nan")
    if law.bootstrap_params_.shape[0]:
        lo, hi = law.predict_interval(at, 0.95)
        width = float(hi / lo - 1.0)
    reasons = list(law.problems_)
    rmse = law.backtest_rmse_
    if not np.isfinite(rmse):
        reasons.append("no backtest (too few sizes, or n_bootstrap=0)")
    elif rmse > max_backtest_rmse:
        reasons.append(f"backtest RMSE of ln y {rmse:.3f} > {max_backtest_rmse}")
    if not np.isfinite(width):
        reasons.append("no prediction interval (n_bootstrap=0)")
    elif width > max_width:
        reasons.append(f"95% interval at 4x the largest size spans {width:.0%} > {max_width:.0%}")
    return Reliability(not reasons, rmse, width, at, tuple(reasons))
