"""raylaws: tuned, multi-seed scaling-law sweeps on Ray.

The method of Ivgi, Carmon & Berant (2022), *Scaling Laws Under the Microscope*: train a ladder
of transformer sizes, tune learning rate and batch size per size, re-run each size's best
config over several seeds, and fit a power law of loss against the non-embedding parameter
count N = 12*L*H^2.

Example:
    >>> import raylaws
    >>> sweep = raylaws.run("search_spaces/demo.yaml")  # doctest: +SKIP
    >>> raylaws.open("results/demo").best_per_size().to_pandas()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from raylaws.spec import ExperimentSpec, SpecError, load_spec
from raylaws.sweep import Finding, Sweep, SweepError, SweepInterrupted, check, open, rerun, resume, run

__version__ = "0.1.0"

__all__ = [
    "ChinchillaLaw",
    "ExperimentSpec",
    "Finding",
    "PowerLaw",
    "SpecError",
    "Sweep",
    "SweepError",
    "SweepInterrupted",
    "check",
    "load_spec",
    "open",
    "rerun",
    "resume",
    "run",
]


def __getattr__(name: str) -> Any:
    # The fitters import scipy; load them on first use so `import raylaws` stays light.
    if name in ("PowerLaw", "ChinchillaLaw"):
        from raylaws import fit

        return getattr(fit, name)
    raise AttributeError(f"module 'raylaws' has no attribute {name!r}")
