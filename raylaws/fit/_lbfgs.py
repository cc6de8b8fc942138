"""L-BFGS for many small problems at once: one batch of parameter vectors, one numpy pass each.

Bootstrapping a nonlinear law means a thousand small, independent fits (k <= 5 parameters,
tens to hundreds of points). Calling `scipy.optimize.minimize` a thousand times costs per-call
overhead, and on a busy machine scipy's L-BFGS-B can be slowed many-fold by its BLAS thread pool
contending for cores. Here every replicate takes its L-BFGS step together: the two-loop
recursion, an Armijo backtracking line search and the convergence tests are vectorised over the
batch, and each replicate stops on its own criteria (the same ones as scipy's L-BFGS-B).
Lower bounds are handled by projection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: objective(x (b, k), rows (b,)) -> (values (b,), gradients (b, k)): problems `rows` at `x`.
BatchObjective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

_ARMIJO = 1e-4  # sufficient-decrease constant c1
_MAX_HALVINGS = 40


@dataclass(frozen=True)
class BatchResult:
    """Per-problem outcome of `minimize_batch`.

    Attributes:
        x: (B, k) final parameters.
        fun: (B,) final objective values.
        converged: (B,) True where a gradient or objective-change test was met (False: iteration
            limit, or no decrease found along the search direction).
        n_iterations: (B,) iterations taken.
    """

    x: np.ndarray
    fun: np.ndarray
    converged: np.ndarray
    n_iterations: np.ndarray


def minimize_batch(
    objective: BatchObjective,
    x0: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    memory: int = 10,
    max_iter: int = 1000,
    ftol: float = 1e-14,
    gtol: float = 1e-9,
) -> BatchResult:
    """Minimise B independent objectives by L-BFGS, all B at once.

    Args:
        objective: Values and gradients for a subset of the problems (see `BatchObjective`).
        x0: (B, k) starting points.
        lower: (B, k) lower bounds (-inf for none), or None.
        memory: Number of correction pairs kept (scipy's `maxcor`).
        max_iter: Iteration limit per problem.
        ftol: Stop when (f_old - f_new) / max(|f_old|, |f_new|, 1) <= ftol (scipy's `ftol`).
        gtol: Stop when the largest projected-gradient component is <= gtol (scipy's `gtol`).

    Returns:
        The final points, values, convergence flags and iteration counts.
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    n_problems, n_dims = x.shape
    lower = np.full_like(x, -np.inf) if lower is None else np.broadcast_to(lower, x.shape)
    x = np.maximum(x, lower)
    f, g = objective(x, np.arange(n_problems))
    s_hist = np.zeros((n_problems, memory, n_dims))  # newest pair last
    y_hist = np.zeros((n_problems, memory, n_dims))
    rho = np.zeros((n_problems, memory))  # 0 marks an empty slot
    converged = _projected_gradient_norm(x, g, lower) <= gtol
    done = converged.copy()
    n_iterations = np.zeros(n_problems, dtype=np.int64)

    for _ in range(max_iter):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        xa, fa, ga, lo = x[active], f[active], g[active], lower[active]
        direction = -_two_loop(ga, s_hist[active], y_hist[active], rho[active])
        # No usable curvature yet, or not a descent direction: restart from steepest descent.
        restart = (rho[active] == 0).all(axis=1) | (np.einsum("bk,bk->b", direction, ga) >= 0)
        if restart.any():
            scale = 1.0 / np.maximum(np.linalg.norm(ga[restart], axis=1), 1.0)
            direction[restart] = -ga[restart] * scale[:, None]
            rho[active[restart]] = 0.0
        x_new, f_new, g_new, found = _backtrack(objective, active, xa, fa, ga, direction, lo)
        n_iterations[active] += 1

        step = x_new - xa
        change = g_new - ga
        curvature = np.einsum("bk,bk->b", step, change)
        store = found & (curvature > 1e-12 * np.einsum("bk,bk->b", change, change))
        rows = active[store]
        s_hist[rows] = np.roll(s_hist[rows], -1, axis=1)
        y_hist[rows] = np.roll(y_hist[rows], -1, axis=1)
        rho[rows] = np.roll(rho[rows], -1, axis=1)
        s_hist[rows, -1] = step[store]
        y_hist[rows, -1] = change[store]
        rho[rows, -1] = 1.0 / curvature[store]

        x[active[found]] = x_new[found]
        f[active[found]] = f_new[found]
        g[active[found]] = g_new[found]
        decrease = (fa - f_new) / np.maximum(np.maximum(np.abs(fa), np.abs(f_new)), 1.0)
        small_gradient = _projected_gradient_norm(x_new, g_new, lo) <= gtol
        met = found & ((decrease <= ftol) | small_gradient)
        converged[active[met]] = True
        done[active[met | ~found]] = True

    return BatchResult(x=x, fun=f, converged=converged, n_iterations=n_iterations)


def _two_loop(
    gradient: np.ndarray, s_hist: np.ndarray, y_hist: np.ndarray, rho: np.ndarray
) -> np.ndarray:
    """H·g by the L-BFGS two-loop recursion, batched; empty slots (rho = 0) drop out."""
    q = gradient.copy()
    memory = rho.shape[1]
    alphas = np.zeros_like(rho)
    for i in range(memory - 1, -1, -1):
        alphas[:, i] = rho[:, i] * np.einsum("bk,bk->b", s_hist[:, i], q)
        q -= alphas[:, i, None] * y_hist[:, i]
    newest_y = y_hist[:, -1]
    yy = np.einsum("bk,bk->b", newest_y, newest_y)
    gamma = np.where(rho[:, -1] > 0, 1.0 / np.where(yy > 0, rho[:, -1] * yy, 1.0), 1.0)
    r = gamma[:, None] * q
    for i in range(memory):
        beta = rho[:, i] * np.einsum("bk,bk->b", y_hist[:, i], r)
        r += s_hist[:, i] * (alphas[:, i] - beta)[:, None]
    return r


def _backtrack(
    objective: BatchObjective,
    rows: np.ndarray,
    x: np.ndarray,
    f: np.ndarray,
    g: np.ndarray,
    direction: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Armijo backtracking from a unit step, halving per problem until sufficient decrease."""
    x_new, f_new, g_new = x.copy(), f.copy(), g.copy()
    found = np.zeros(rows.size, dtype=bool)
    step_size = np.ones(rows.size)
    pending = np.arange(rows.size)
    for _ in range(_MAX_HALVINGS):
        moved = x[pending] + step_size[pending, None] * direction[pending]
        trial = np.maximum(moved, lower[pending])
        f_trial, g_trial = objective(trial, rows[pending])
        slope = np.einsum("bk,bk->b", g[pending], trial - x[pending])
        ok = np.isfinite(f_trial) & (f_trial <= f[pending] + _ARMIJO * slope) & (slope < 0)
        accepted = pending[ok]
        x_new[accepted], f_new[accepted], g_new[accepted] = trial[ok], f_trial[ok], g_trial[ok]
        found[accepted] = True
        pending = pending[~ok]
        if pending.size == 0:
            break
        step_size[pending] *= 0.5
    return x_new, f_new, g_new, found


def _projected_gradient_norm(x: np.ndarray, g: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Largest gradient component that could still move x (none pushing into a lower bound)."""
    blocked = (x <= lower) & (g > 0)
    return np.abs(np.where(blocked, 0.0, g)).max(axis=1)
