"""Time the fitters against issue 3's goals, on one core.

    .venv/bin/python benchmarks/fit_speed.py

- ``power`` and ``saturating`` PowerLaw: 10 sizes x 5 seeds, 1000 hierarchical bootstraps.
  Goals: power < 0.5 s, saturating < 5 s.
- ``ChinchillaLaw``: Chinchilla's Figure 4 points (../shared/data/chinchilla_fig4_epoch.csv, as
  extracted by Epoch AI), with the 5 highest-loss points dropped as Epoch does (240 of the 245
  fitted), 1000 bootstraps. Goal: < 60 s.

Each figure is the wall time of one `fit` (best of `--repeats`), printed with its goal; the exit
status is 1 when a goal is missed. `--smoke-test` runs 50 bootstraps instead, in seconds.
"""

from __future__ import annotations

import os

# One core: pin the BLAS/OpenMP pools before numpy is imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from raylaws.fit import ChinchillaLaw, PowerLaw  # noqa: E402

CHINCHILLA_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / (
    "chinchilla_fig4_epoch.csv"
)
GOALS_SECONDS = {"power": 0.5, "saturating": 5.0, "chinchilla": 60.0}


def synthetic_sweep(form: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """10 sizes (the paper's AR-32/64 range) x 5 seeds, 1% seed noise, 1% size noise."""
    sizes = np.geomspace(1.2e4, 8.5e7, 10)  # non-embedding parameters
    n_params = np.repeat(sizes, 5)
    floor = 1.5 if form == "saturating" else 0.0
    mean = floor + 60.0 * n_params**-0.25
    size_noise = np.repeat(rng.normal(0.0, 0.01, sizes.size), 5)
    return n_params, mean * np.exp(size_noise + rng.normal(0.0, 0.01, n_params.size))


def chinchilla_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) of Chinchilla's Figure 4 minus the 5 highest-loss points; D = C / (6 N)."""
    with CHINCHILLA_CSV.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: float(row["loss"]))
    rows = rows[:-5]
    n_params = np.array([float(row["Model Size"]) for row in rows])
    flops = np.array([float(row["Training FLOP"]) for row in rows])
    loss = np.array([float(row["loss"]) for row in rows])
    return n_params, flops / (6.0 * n_params), loss


def best_time(fit: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke-test", action="store_true", help="50 bootstraps, no goals")
    parser.add_argument("--repeats", type=int, default=3, help="timings per fitter (best kept)")
    args = parser.parse_args()
    n_bootstrap = 50 if args.smoke_test else 1000
    rng = np.random.default_rng(0)

    print(f"fit_speed: one core, {n_bootstrap} bootstraps, best of {args.repeats}")
    missed = []
    for form in ("power", "saturating"):
        n_params, y = synthetic_sweep(form, rng)
        law = PowerLaw(form, n_bootstrap=n_bootstrap, random_state=0)
        seconds = best_time(lambda: law.fit(n_params, y), args.repeats)
        ok = seconds < GOALS_SECONDS[form]
        missed += [] if ok else [form]
        print(
            f"  {form:<11} 10 sizes x 5 seeds: {seconds:8.3f} s  "
            f"(goal < {GOALS_SECONDS[form]:g} s: {'met' if ok else 'MISSED'})  "
            f"alpha={law.exponent_:.4f}"
        )

    if not CHINCHILLA_CSV.exists():
        print(f"  chinchilla  skipped: {CHINCHILLA_CSV} not found")
    else:
        n_params, n_tokens, loss = chinchilla_points()
        law = ChinchillaLaw(n_bootstrap=n_bootstrap, random_state=0)
        seconds = best_time(lambda: law.fit(n_params, n_tokens, loss), 1)
        ok = seconds < GOALS_SECONDS["chinchilla"]
        missed += [] if ok else ["chinchilla"]
        estimates = ", ".join(f"{name}={value:.4g}" for name, value in law.params_.items())
        print(
            f"  chinchilla  {n_params.size} points (5 highest-loss dropped): {seconds:8.3f} s  "
            f"(goal < 60 s: {'met' if ok else 'MISSED'})  {estimates}"
        )
    if args.smoke_test:
        return 0
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
