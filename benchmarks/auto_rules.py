"""How `form="auto"` should combine the forms: selection and averaging rules compared (issue 24).

    PYTHONPATH=. .venv/bin/python benchmarks/auto_rules.py --seed 2 --per-family 20
    PYTHONPATH=. .venv/bin/python benchmarks/auto_rules.py --seed 0 --per-family 6 --real

Each curve of benchmarks/extrapolation.py (its simulated families; with --real also the
Chinchilla envelope and raylaws' own curves) is fitted once per form on its smaller sizes, and
each form is backtested (rolling origin) exactly as raylaws.fit does. Every rule then turns
those backtests into a prediction of the held-out sizes, so rules are compared on the very same
fits. Printed per family: each form's median RMSE of ln y, and each rule's median over the best
single form's (issue 24 asks <= 1.05 in every family); the last line is each rule's worst
family. Rules (RMSE: a form's backtest RMSE on the common origins, as `select_form` scores it):

- ``select-occam0.05``: the previous `auto`: the lowest RMSE wins, a form with fewer parameters
  within 5% of it preferred; ``select``: the lowest RMSE, no preference;
- ``within-m``: the mean, in ln y, of every form within (1 + m) x the lowest RMSE (shipped: 0.4);
- ``winv-m``: the same forms, weighted by 1 / MSE;
- ``inv-p``: every form, weighted by MSE^-p; ``akaike-t``: weights exp(-(MSE - min) / (t min));
- ``top2``: the mean of the two lowest.

With fewer than 5 sizes no form can be backtested and every rule falls back to power, as auto does.
About 200 CPU-s per 36 simulated curves on this 2-core box (m4's backtests dominate).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

import extrapolation  # noqa: E402  (benchmarks/extrapolation.py)
from raylaws.fit._bootstrap import group_sizes  # noqa: E402
from raylaws.fit._forms import FORMS, fit_theta  # noqa: E402
from raylaws.fit._selection import AUTO_CANDIDATES as NAMES, backtest_plan, rolling_errors  # noqa: E402

RULES = ("select-occam0.05", "select", "within-0.2", "within-0.4", "within-0.7", "winv-0.4", "inv-2",
         "akaike-0.5", "top2")


def fit_forms(curve: extrapolation.Curve) -> dict:
    """Each form's held-out predictions and its backtest errors on the common origins."""
    sizes = np.unique(curve.x)
    train = curve.x < sizes[-curve.n_held_out]
    held = sizes[-curve.n_held_out:]
    fitted_sizes, size_index, _ = group_sizes(curve.x[train])
    ln_x, ln_y, ln_sizes = np.log(curve.x[train])[None], np.log(curve.y[train]), np.log(fitted_sizes)
    n_sizes = fitted_sizes.size
    forms, first = backtest_plan(n_sizes)  # the forms and origins `auto` backtests
    candidates = [form.name for form in forms]
    predictions, backtests = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NAMES:
            form = FORMS[name]
            if n_sizes < form.n_coefficients:
                continue
            theta = fit_theta(form, form.default_loss, ln_x, ln_y)
            predictions[name] = form.model.log_predict_many(theta[None], np.log(held)[None])[0]
            if name in candidates:
                backtests[name] = rolling_errors(form, form.default_loss, ln_x, ln_y, size_index, ln_sizes, first).errors
    observed = np.array([np.log(curve.y[curve.x == s]).mean() for s in held])
    return {"family": curve.family, "observed": observed, "predictions": predictions, "backtests": backtests}


def predict(fits: dict, rule: str) -> np.ndarray:
    """The held-out ln y predictions `rule` makes from one curve's fits."""
    predictions = fits["predictions"]
    mse = {f: float(np.mean(e**2)) for f, e in fits["backtests"].items() if e.size and np.all(np.isfinite(e))}
    if not mse:
        return predictions["power"]
    best = min(mse, key=mse.__getitem__)
    kind, _, value = rule.partition("-")
    if kind == "select":
        margin = float(value.removeprefix("occam")) if value else 0.0
        return predictions[next(f for f in NAMES if f in mse and mse[f] ** 0.5 <= mse[best] ** 0.5 * (1 + margin))]
    if kind in ("within", "winv"):
        kept = [f for f in mse if mse[f] ** 0.5 <= mse[best] ** 0.5 * (1 + float(value))]
        weights = np.ones(len(kept)) if kind == "within" else np.array([1 / mse[f] for f in kept])
    elif kind == "inv":
        kept = list(mse)
        weights = np.array([mse[f] ** -float(value) for f in kept])
    elif kind == "akaike":
        kept = list(mse)
        scores = np.array([mse[f] for f in kept])
        weights = np.exp(-(scores - scores.min()) / (float(value) * scores.min()))
    elif kind == "top2":
        kept, weights = sorted(mse, key=mse.__getitem__)[:2], np.ones(min(2, len(mse)))
    else:
        raise ValueError(f"rule: unknown {rule!r}")
    weights = weights / weights.sum()
    return sum(w * predictions[f] for w, f in zip(weights, kept))


def report(all_fits: list[dict], rules: tuple[str, ...]) -> None:
    families: dict[str, list[dict]] = defaultdict(list)
    for fits in all_fits:
        families[fits["family"]].append(fits)
        if fits["family"].startswith("trial-curves/"):
            families["trial-curves"].append(fits)
    print(f"{'family':<24}{'n':>4}" + "".join(f"{f[:8]:>9}" for f in NAMES) + "".join(f"{r[:16]:>17}" for r in rules))
    worst: dict[str, float] = defaultdict(float)
    for family, group in families.items():
        def median(predictions) -> float:
            return float(np.median([np.sqrt(np.mean((p - fits["observed"]) ** 2)) for p, fits in zip(predictions, group)]))
        forms = {f: median([g["predictions"][f] for g in group]) for f in NAMES if all(f in g["predictions"] for g in group)}
        best = min(forms.values())
        ratios = {r: median([predict(g, r) for g in group]) / best for r in rules}
        for r in rules:
            worst[r] = max(worst[r], ratios[r])
        print(f"{family:<24}{len(group):>4}" + "".join(f"{forms.get(f, np.nan):>9.4f}" for f in NAMES)
              + "".join(f"{ratios[r]:>17.2f}" for r in rules))
    print(f"{'worst family':<28}" + " " * 36 + "".join(f"{worst[r]:>17.2f}" for r in rules))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated curves")
    parser.add_argument("--per-family", type=int, default=20, help="simulated curves per family")
    parser.add_argument("--real", action="store_true", help="also the Chinchilla envelope and raylaws' own curves")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    curves = extrapolation.simulated_curves(args.per_family, seed=args.seed)
    if args.real:
        chinchilla = extrapolation.chinchilla_curve()
        curves += ([chinchilla] if chinchilla else []) + extrapolation.real_curves(
            extrapolation.real_curves_module.REAL_CURVES)
    with ProcessPoolExecutor(args.workers) as pool:
        all_fits = list(pool.map(fit_forms, curves, chunksize=1))
    print(f"seed {args.seed}, {args.per_family} simulated curves per family, {len(curves)} curves; "
          "rule's median RMSE of ln y / the best single form's")
    report(all_fits, RULES)


if __name__ == "__main__":
    main()
