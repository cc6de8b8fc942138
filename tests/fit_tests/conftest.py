"""Synthetic sweeps for the fit tests: sizes x seeds with size-level and seed-level noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

# The paper's AR-32 ladder, L = 1..8: N = 12 L H^2 non-embedding parameters, H = 32 L.
PAPER_SIZES = 12 * np.arange(1, 9) * (32 * np.arange(1, 9)) ** 2.0

Sweep = Callable[..., "tuple[np.ndarray, np.ndarray]"]


def make_sweep(
    rng: np.random.Generator,
    *,
    sizes: np.ndarray = PAPER_SIZES,
    n_seeds: int = 5,
    A: float = 50.0,
    alpha: float = 0.3,
    E: float = 0.0,
    size_noise: float = 0.01,
    seed_noise: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (N, y) with y = (E + A N^-alpha) * exp(u_size + e_seed), u, e normal in ln y."""
    n_params = np.repeat(np.asarray(sizes, dtype=float), n_seeds)
    u = np.repeat(rng.normal(0.0, size_noise, len(sizes)), n_seeds)
    e = rng.normal(0.0, seed_noise, n_params.size)
    return n_params, (E + A * n_params**-alpha) * np.exp(u + e)


@pytest.fixture
def sweep() -> Sweep:
    """`make_sweep`, with a default seeded generator."""

    def build(seed: int = 0, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        return make_sweep(np.random.default_rng(seed), **kwargs)  # type: ignore[arg-type]

    return build
