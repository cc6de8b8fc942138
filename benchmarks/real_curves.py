"""Real learning curves from raylaws' own sweeps, for benchmarks/extrapolation.py (issue 24).

Every finished sweep's store holds real curves: each trial's eval loss against training tokens
(`eval_steps`, `eval_losses` of its trials table), and, across sizes, the best config's seed-mean
loss against N (`best_per_size()`). `build` gathers them from sweep directories into one small
parquet, `benchmarks/data/real_curves.parquet`; `load` turns it into the benchmark's curves.

The committed file was made on 2026-12-07 at commit c4b0fe2 (branch real-curves) by

    PYTHONPATH=. .venv/bin/python benchmarks/extrapolation.py \\
        --build-real-curves /tmp/demo_before /tmp/curves_sweep/store/constant

from two sweeps run on this 2-core x86-64 box:

- /tmp/demo_before: a finished `raylaws run search_spaces/demo.yaml` (spec hash 2a573db5c8874f7a,
  started 2026-12-07 14:19 UTC; 28 trials, 4 sizes, 2 seeds, cosine, an eval every 50 of 700
  steps);
- /tmp/curves_sweep/store/constant: `raylaws run benchmarks/data/constant_lr.yaml --storage
  /tmp/curves_sweep/store --quiet` (16 trials, 4 sizes, 1 seed, constant learning rate, an eval
  every 50 of 1,200 steps on 4,096 tokens: noisier curves that keep falling slowly instead of
  dropping as a cosine decays; 3 min 15 s).

One more finished demo sweep was added on 2026-12-07 with `--add-real-curves SWEEP_DIR` (this
file's metadata lists every step), run on this project's current 2-core box (AMD EPYC) under
load from other work (its losses do not depend on it): ``demo-2``,
/tmp/raylaws-tuning-matters/sweeps/demo, `search_spaces/demo.yaml` at commit 8eef374 (34
trials), run by `benchmarks/tuning_matters.py` for its tuned arm. The demo with its seeds rule
(commit bcf26e3, /tmp/seeds_demo/demo) recorded the very same 34 trials on this box (the rule
added no seed), so it adds no curve and is left out.

Families (each curve is fitted on its first points and scored on the rest, held out):

- ``trial-curves``: every trial's eval loss against tokens (x = eval step * tokens per step),
  the last `HELD_FRACTION` of its evaluations held out; split by shape, by the rule in `shape`,
  into ``trial-curves/noisy``, ``trial-curves/late-bend`` and ``trial-curves/steady``.
- ``ladder``: loss against N, non-embedding parameters 12·L·H², one point per size (the best
  config's seed mean); the largest size held out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REAL_CURVES = Path(__file__).resolve().parent / "data" / "real_curves.parquet"
HELD_FRACTION = 0.35  # of a trial's evaluations held out: fit on its first ~65%
NOISE_RISE = 0.004  # a rise of ln(loss) between two evaluations above this makes a curve "noisy"
LATE_BEND = 0.5  # held-out log-log slope below this share of the fitted part's late slope: "late-bend"

SCHEMA = pa.schema([
    ("sweep", pa.string()),  # the sweep's name
    ("curve", pa.string()),  # trial id, or "ladder"
    ("kind", pa.string()),  # "trial" (loss against tokens) or "ladder" (loss against N)
    ("x", pa.list_(pa.float64())),  # tokens seen at each evaluation, or N (non-embedding) per size
    ("y", pa.list_(pa.float64())),  # eval loss, nats per token
])


def build(sweep_dirs: list[Path], out: Path = REAL_CURVES, *, append: bool = False) -> pa.Table:
    """Gather every trial's eval curve and each sweep's ladder from `sweep_dirs` into `out`
    (after the curves already in `out` when `append`; a sweep whose name is taken is labelled
    ``name-2``, ``name-3``...).

    Trials whose losses are not all finite (diverged) or with fewer than 2 evaluations are left out.
    """
    import raylaws

    rows: dict[str, list] = {name: [] for name in SCHEMA.names}
    built_from, commits = [], []
    if append and out.exists():
        existing = pq.read_table(out)
        rows = {name: existing.column(name).to_pylist() for name in SCHEMA.names}
        metadata = existing.schema.metadata or {}
        built_from.append(metadata.get(b"built_from", b"").decode())
        commits.append(metadata.get(b"commit", b"").decode())

    def add(sweep: str, curve: str, kind: str, x: np.ndarray, y: np.ndarray) -> None:
        for name, value in zip(SCHEMA.names, (sweep, curve, kind, x.tolist(), y.tolist())):
            rows[name].append(value)

    for sweep_dir in sweep_dirs:
        store = raylaws.open(sweep_dir)
        trials = store.trials().to_pylist()
        label, taken = trials[0]["sweep"], set(rows["sweep"])
        label = next(f"{label}-{n}" for n in range(2, 1000) if f"{label}-{n}" not in taken) if label in taken else label
        for trial in sorted(trials, key=lambda t: t["trial_id"]):
            steps, losses = np.array(trial["eval_steps"] or []), np.array(trial["eval_losses"] or [])
            if steps.size < 2 or trial["steps"] == 0 or not np.all(np.isfinite(losses)):
                continue
            tokens_per_step = trial["tokens"] / trial["steps"]  # batch_size * seq_len
            add(label, trial["trial_id"], "trial", steps * tokens_per_step, losses)
        ladder = store.best_per_size().to_pylist()
        add(label, "ladder", "ladder", np.array([r["n_params"] for r in ladder], float),
            np.array([r["loss_mean"] for r in ladder]))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    built_from.append(" ".join(str(d) for d in sweep_dirs))
    commits.append(commit)
    table = pa.table(rows, schema=SCHEMA).replace_schema_metadata(
        {"built_from": "; then ".join(built_from), "commit": "; then ".join(commits)})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return table


def n_held_out(kind: str, n_points: int) -> int:
    """How many of a curve's last points are held out: the largest size of a ladder, the last
    `HELD_FRACTION` of a trial's evaluations (at least 2)."""
    return 1 if kind == "ladder" else max(2, round(HELD_FRACTION * n_points))


def shape(x: np.ndarray, y: np.ndarray, held: int) -> str:
    """A trial curve's shape, by a rule on the whole curve (it sorts the test cases, fits never see it).

    ``noisy``: ln y rises by more than `NOISE_RISE` between two successive evaluations somewhere.
    ``late-bend``: otherwise, if the held-out points' log-log slope is under `LATE_BEND` times the
    slope over the fitted part's second half: the curve flattens after the cut.
    ``steady``: neither.
    """
    ln_x, ln_y = np.log(x), np.log(y)
    if np.max(np.diff(ln_y)) > NOISE_RISE:
        return "noisy"
    fitted = slice(len(x) - held - (len(x) - held) // 2, len(x) - held)
    late = np.polyfit(ln_x[fitted], ln_y[fitted], 1)[0]
    after = np.polyfit(ln_x[-held:], ln_y[-held:], 1)[0]
    return "late-bend" if after > LATE_BEND * late else "steady"  # slopes are negative


def load(path: Path = REAL_CURVES) -> list[tuple[str, str, np.ndarray, np.ndarray, int]]:
    """(family, source, x, y, n_held_out) of every curve in `path`; source is "sweep:curve"."""
    curves = []
    for row in pq.read_table(path).to_pylist():
        x, y = np.array(row["x"]), np.array(row["y"])
        held = n_held_out(row["kind"], x.size)
        family = "ladder" if row["kind"] == "ladder" else f"trial-curves/{shape(x, y, held)}"
        curves.append((family, f"{row['sweep']}:{row['curve']}", x, y, held))
    return curves
