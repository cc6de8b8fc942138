"""The samplers of the studies (:mod:`raylaws.search._studies`), and their random streams as
JSON, so a resumed driver continues them where the latest ask left them."""

from __future__ import annotations

import base64
from typing import Any, Callable, Optional

import numpy as np
import optuna
from optuna.distributions import BaseDistribution

from raylaws.spec import FinetuneSpec, SearchSpec


def make_sampler(search: SearchSpec, finetune: Optional[FinetuneSpec], seed: int,
                 trials: int) -> optuna.samplers.BaseSampler:
    """A study's sampler: a finetuning study's grid (``finetune``, given for a finetuning study,
    with ``grid: true``), else the search's (``tpe`` or ``random``), seeded ``seed``, for a study
    of ``trials`` trials."""
    if finetune is not None and finetune.grid:
        return GridSampler(finetune.grid_point)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = min(10, max(3, trials // 3))  # Optuna's default of 10 exceeds small budgets
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True, multivariate=True)


SAMPLER_STATE_ATTR = "raylaws:sampler_state"  # trial system attribute: the streams' state after its ask


class GridSampler(optuna.samplers.BaseSampler):
    """A finetuning study's grid (``finetune.grid``): trial ``k`` takes grid point ``k``, so the
    configs depend on trial numbers only, never on what finished first or on a restart."""

    def __init__(self, point: Callable[[int], tuple[float, int]]) -> None:
        self._point = point

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        learning_rate, epochs = self._point(trial.number)
        return {"learning_rate": learning_rate, "epochs": epochs}[param_name]


def sampler_rngs(sampler: optuna.samplers.BaseSampler) -> list[np.random.RandomState]:
    """The random streams of a sampler, in a fixed order: TPE's own and its startup sampler's
    (a grid has none)."""
    if isinstance(sampler, GridSampler):
        return []
    if isinstance(sampler, optuna.samplers.TPESampler):
        return [sampler._rng.rng, sampler._random_sampler._rng.rng]
    if isinstance(sampler, optuna.samplers.RandomSampler):
        return [sampler._rng.rng]
    raise TypeError(f"no known random streams in {type(sampler).__name__}")


def dump_rng_state(rng: np.random.RandomState) -> dict[str, object]:
    """A ``RandomState``'s state as JSON (the journal's format): the MT19937 key as base64."""
    kind, key, pos, has_gauss, cached = rng.get_state(legacy=True)
    return {"kind": kind, "key": base64.b64encode(np.asarray(key, dtype="<u4").tobytes()).decode(), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def load_rng_state(saved: dict[str, object]) -> tuple[object, ...]:
    key = np.frombuffer(base64.b64decode(str(saved["key"])), dtype="<u4").astype(np.uint32)
    return (saved["kind"], key, int(saved["pos"]), int(saved["has_gauss"]),  # type: ignore[call-overload]
            float(saved["cached_gaussian"]))  # type: ignore[arg-type]


__all__ = ["SAMPLER_STATE_ATTR", "GridSampler", "dump_rng_state", "load_rng_state", "make_sampler", "sampler_rngs"]
