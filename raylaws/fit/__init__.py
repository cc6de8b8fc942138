"""Scaling-law fits with honest uncertainty: the science end of raylaws.

Best-per-size results of a sweep go in; a law with hierarchical-bootstrap uncertainty comes out,
and it predicts larger models (`backtest`), flags sizes that did not converge (`off_law`) and
picks between designs (`compare`), the three uses in Ivgi, Carmon & Berant (2022).

N is the number of non-embedding parameters (12·L·H² in the paper's count) everywhere.
Pure numpy/scipy/pyarrow: importing this package imports neither Ray nor torch.

Example:
    >>> import numpy as np
    >>> from raylaws.fit import PowerLaw, backtest
    >>> n = np.repeat([1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7], 5)
    >>> y = 30.0 * n ** -0.15 * np.exp(np.random.default_rng(0).normal(0, 0.005, n.size))
    >>> law = PowerLaw(n_bootstrap=0).fit(n, y)
    >>> round(law.exponent_, 2), law.r2_ > 0.95
    (0.15, True)
    >>> backtest(PowerLaw(n_bootstrap=0), n, y, holdout=2).mre < 0.01
    True
"""

from __future__ import annotations

from raylaws.fit._analysis import (
    BacktestResult,
    Comparison,
    Reliability,
    backtest,
    compare,
    off_law,
    reliability,
)
from raylaws.fit._base import NotFittedError, clone
from raylaws.fit._chinchilla import ChinchillaLaw
from raylaws.fit._objective import HUBER_DELTA
from raylaws.fit._power import DegenerateFitWarning, PowerLaw
from raylaws.fit._selection import FormSelection
from raylaws.fit._table import GroupFit, fit_table

__all__ = [
    "HUBER_DELTA",
    "BacktestResult",
    "ChinchillaLaw",
    "Comparison",
    "DegenerateFitWarning",
    "FormSelection",
    "GroupFit",
    "NotFittedError",
    "PowerLaw",
    "Reliability",
    "backtest",
    "clone",
    "compare",
    "fit_table",
    "off_law",
    "reliability",
]
