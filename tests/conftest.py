"""Shared fixtures: one real local Ray per test session, tiny specs, a private data cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Prepared data goes to a per-session cache, not the user's ~/.cache."""
    if "RAYLAWS_CACHE" not in os.environ:
        os.environ["RAYLAWS_CACHE"] = str(tmp_path_factory.mktemp("raylaws-cache"))


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """A real local Ray, started once per test session (ray.init costs ~5 s and ~700 MiB)."""
    import ray

    if not ray.is_initialized():
        # address="local": a fresh Ray even where someone runs a Ray cluster on this machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def tiny_spec_dict(**overrides: Any) -> dict[str, Any]:
    """A spec small enough to train in about a second per trial on one core."""
    spec: dict[str, Any] = {
        "name": "tiny",
        "objective": "clm",
        "data": {"source": "stdlib", "tokenizer": {"kind": "bpe", "vocab_size": 300}, "seq_len": 32,
                 "eval_tokens": 1024, "max_tokens": 60_000},
        "ladder": {"aspect_ratio": 8, "layers": [1, 2], "n_heads": 2},
        "training": {"max_steps": 40, "warmup_steps": 5, "eval_interval": 10, "schedule": "cosine"},
        "search": {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 3,
                   "sampler_seed": 0, "pruning": {"enabled": True, "grace_steps": 10, "reduction_factor": 2}},
        "seeds": 2,
        "resources": {"cpus_per_trial": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


@pytest.fixture
def tiny_spec() -> Callable[..., Any]:
    from raylaws.spec import spec_from_dict

    return lambda **overrides: spec_from_dict(tiny_spec_dict(**overrides))
