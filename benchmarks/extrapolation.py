"""How well each law form extrapolates, and whether its 95% intervals hold (issue 13).

    PYTHONPATH=. .venv/bin/python benchmarks/extrapolation.py            # < 5 min on 2 cores
    PYTHONPATH=. .venv/bin/python benchmarks/extrapolation.py --smoke-test

Validation set (nothing here comes from a public collection of learning curves):

- Simulated curves with known truth, 10 sizes over 3 decades x 3 seeds, 1% seed noise and 0.5%
  size noise in ln y, one family per shape: a pure power law, a saturating law, M4 curves that
  start on a plateau (gamma 0.5 and 2, as few-shot error near chance does), a logistic (sigmoid)
  curve, and a broken power law (the exponent changes mid-range) that no form here contains:
  the misspecified case.
- Chinchilla (Hoffmann et al. 2022, Fig. 4 points as extracted by Epoch AI, read from
  ../shared/data/): the lower envelope of loss against training compute, one point per FLOP
  budget: a backtest on real runs.

Every curve is fitted on its smaller sizes and scored on its 3 largest (held out): RMSE of ln y
(the metric of Alabdulmohsin et al. 2022), and whether each held-out size's geometric mean fell
inside the fit's 95% `predict_interval` (100 bootstraps). Fits per second: fits without a
bootstrap, one core.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from raylaws.fit import DegenerateFitWarning, PowerLaw  # noqa: E402

CHINCHILLA_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / (
    "chinchilla_fig4_epoch.csv"
)
FORMS = ("power", "saturating", "sigmoid", "m4", "auto")
N_HELD_OUT = 3
SIZES = np.geomspace(1e6, 1e9, 10)  # x: N, non-embedding parameters
N_SEEDS = 3


@dataclass(frozen=True)
class Curve:
    """One curve: rows (x, y), the family it came from."""

    family: str
    x: np.ndarray
    y: np.ndarray


def _truth(family: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise-free y at x for one random member of `family`."""
    alpha = rng.uniform(0.25, 0.6)
    ln_x = np.log(x / 1e6)
    if family == "power":
        return 8.0 * np.exp(-alpha * 0.5 * ln_x)
    if family == "saturating":
        floor = rng.uniform(1.0, 2.5)
        return floor + rng.uniform(2.0, 6.0) * np.exp(-alpha * ln_x)
    if family == "broken":  # exponent alpha below a break, alpha/2.5 above it
        floor = rng.uniform(0.5, 1.5)
        ln_break = rng.uniform(2.0, 4.0)
        slow = np.where(ln_x > ln_break, (ln_x - ln_break) * (1 - 1 / 2.5), 0.0)
        return floor + 4.0 * np.exp(-alpha * (ln_x - slow))
    # plateau shapes: M4 with gamma 0.5, 2 or 1 (sigmoid); starts near L0, ends near E
    gamma = {"m4-gamma0.5": 0.5, "m4-gamma2": 2.0, "sigmoid": 1.0}[family]
    floor, start = rng.uniform(0.1, 0.4), 1.0
    midpoint = rng.uniform(1.5, 4.0)  # ln x where the fall is steepest
    beta = np.exp(alpha * midpoint)
    y = np.empty_like(x)
    for i, value in enumerate(beta * np.exp(-alpha * ln_x)):
        lo, hi = floor, start
        for _ in range(80):  # bisection on (y - E) - value (L0 - y)^gamma = 0
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if (mid - floor) - value * (start - mid) ** gamma < 0 else (lo, mid)
        y[i] = 0.5 * (lo + hi)
    return y


FAMILIES = ("power", "saturating", "m4-gamma0.5", "m4-gamma2", "sigmoid", "broken")


def simulated_curves(n_per_family: int, seed: int = 0) -> list[Curve]:
    """`n_per_family` curves of each family, with size and seed noise."""
    rng = np.random.default_rng(seed)
    curves = []
    for family in FAMILIES:
        for _ in range(n_per_family):
            mean = _truth(family, SIZES, rng)
            size_noise = rng.normal(0.0, 0.005, SIZES.size)
            x = np.repeat(SIZES, N_SEEDS)
            noise = np.repeat(size_noise, N_SEEDS) + rng.normal(0.0, 0.01, x.size)
            curves.append(Curve(family, x, np.repeat(mean, N_SEEDS) * np.exp(noise)))
    return curves


def chinchilla_curve() -> Curve | None:
    """Lowest loss at each training-FLOP budget of Chinchilla's Fig. 4 (None if not found)."""
    if not CHINCHILLA_CSV.exists():
        return None
    with CHINCHILLA_CSV.open() as handle:
        rows = [(float(r["Training FLOP"]), float(r["loss"])) for r in csv.DictReader(handle)]
    flops = np.array([f for f, _ in rows])
    loss = np.array([v for _, v in rows])
    # Budgets are read off a plot: group FLOP values within 10% of each other.
    order = np.argsort(flops)
    groups = np.cumsum(np.concatenate([[0], np.diff(np.log(flops[order])) > 0.1]))
    budgets = np.array([np.exp(np.log(flops[order][groups == g]).mean()) for g in np.unique(groups)])
    best = np.array([loss[order][groups == g].min() for g in np.unique(groups)])
    return Curve("chinchilla-envelope", budgets, best)


def evaluate(curve: Curve, form: str, n_bootstrap: int) -> tuple[float, float, float]:
    """(RMSE of ln y on the held-out sizes, fraction covered by 95% intervals, seconds per fit)."""
    sizes = np.unique(curve.x)
    train = curve.x < sizes[-N_HELD_OUT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        started = time.perf_counter()
        PowerLaw(form, n_bootstrap=0).fit(curve.x[train], curve.y[train])  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        law = PowerLaw(form, n_bootstrap=n_bootstrap, random_state=0).fit(  # type: ignore[arg-type]
            curve.x[train], curve.y[train]
        )
    held = sizes[-N_HELD_OUT:]
    observed = np.array([np.exp(np.log(curve.y[curve.x == s]).mean()) for s in held])
    n_seeds = int(np.count_nonzero(curve.x == held[0]))
    error = np.log(law.predict(held)) - np.log(observed)
    lo, hi = law.predict_interval(held, 0.95, n_seeds=n_seeds)
    covered = float(np.mean((lo <= observed) & (observed <= hi)))
    return float(np.sqrt(np.mean(error**2))), covered, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=4, help="simulated curves per family")
    parser.add_argument("--bootstrap", type=int, default=100, help="replicates per interval fit")
    parser.add_argument("--smoke-test", action="store_true", help="2 curves per family, B=50")
    args = parser.parse_args()
    per_family, n_bootstrap = (2, 50) if args.smoke_test else (args.per_family, args.bootstrap)

    curves = simulated_curves(per_family)
    chinchilla = chinchilla_curve()
    if chinchilla is not None:
        curves.append(chinchilla)
    started = time.perf_counter()
    results: dict[str, list[tuple[str, float, float, float]]] = {form: [] for form in FORMS}
    for curve in curves:
        for form in FORMS:
            results[form].append((curve.family, *evaluate(curve, form, n_bootstrap)))

    print(f"{len(curves)} curves ({per_family} per simulated family"
          f"{', + Chinchilla envelope' if chinchilla else ''}), {N_HELD_OUT} largest sizes held "
          f"out, 95% intervals from B={n_bootstrap}")
    print(f"{'form':<11}{'median RMSE':>12}{'mean RMSE':>11}{'coverage':>10}{'fits/s':>8}")
    for form in FORMS:
        rmse = np.array([r[1] for r in results[form]])
        coverage = np.mean([r[2] for r in results[form]])
        rate = 1.0 / np.median([r[3] for r in results[form]])
        print(f"{form:<11}{np.median(rmse):>12.4f}{rmse.mean():>11.4f}{coverage:>10.1%}{rate:>8.1f}")
    print("\nmedian RMSE of ln y by family (rows) and form (columns)")
    families = list(dict.fromkeys(r[0] for r in results["auto"]))
    print(f"{'family':<20}" + "".join(f"{form:>11}" for form in FORMS) + f"{'auto cov':>10}")
    for family in families:
        cells = [np.median([r[1] for r in results[f] if r[0] == family]) for f in FORMS]
        cover = np.mean([r[2] for r in results["auto"] if r[0] == family])
        print(f"{family:<20}" + "".join(f"{c:>11.4f}" for c in cells) + f"{cover:>10.1%}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
