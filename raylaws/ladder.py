"""The model ladder: the sizes a sweep trains, and their parameter counts.

Two counts, never mixed up:

* ``n_params``: the paper's non-embedding count, N = 12 * L * H^2 (Ivgi et al. 2022, after
  Kaplan et al. 2020). This is the x axis of every scaling law in raylaws.
* ``n_params_exact``: the trainable parameters of the model actually built, without the token
  and position embeddings and without the output projection (tied to the token embedding or
  not). It adds biases, LayerNorms and the MLM head's transform to N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from raylaws.spec import ExperimentSpec, SpecError, SpecProblem

Objective = Literal["mlm", "clm"]


@dataclass(frozen=True)
class Rung:
    """One model size.

    Attributes:
        name: stable name, e.g. ``"L3-H96"``; keys the size everywhere (store, studies).
        n_layers: depth L.
        d_model: width H.
        n_heads: attention heads.
        d_ff: feed-forward width.
        n_params: the paper's non-embedding count, 12 * L * H^2.
        n_params_exact: non-embedding parameters of the built model (see module docstring).
    """

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    n_params: int
    n_params_exact: int

    def flops(self, tokens: int) -> float:
        """Training compute C = 6 * N * D, with N the paper's non-embedding count."""
        return 6.0 * self.n_params * tokens


def paper_n_params(n_layers: int, d_model: int) -> int:
    """The paper's non-embedding parameter count N = 12 * L * H^2."""
    return 12 * n_layers * d_model**2


def exact_non_embedding_params(objective: Objective, n_layers: int, d_model: int, d_ff: int) -> int:
    """Non-embedding parameters of the model :mod:`raylaws.train` builds.

    Counts everything but the token/position (and BERT token-type) embeddings and the tied
    output projection (and, for MLM, its vocabulary-sized bias). Checked against the built
    ``transformers`` model in the tests.
    """
    h, f = d_model, d_ff
    attention = 4 * h * h + 4 * h  # q, k, v, out projections with biases
    ffn = 2 * h * f + f + h  # up and down projections with biases
    layer_norms = 2 * 2 * h  # two LayerNorms per block (weight + bias)
    per_layer = attention + ffn + layer_norms
    if objective == "clm":
        return n_layers * per_layer + 2 * h  # GPT-2: final LayerNorm
    # BERT: embedding LayerNorm, plus the MLM head's dense transform and its LayerNorm.
    return n_layers * per_layer + 2 * h + (h * h + h) + 2 * h


def build_ladder(spec: ExperimentSpec) -> tuple[Rung, ...]:
    """The rungs of ``spec``, smallest first.

    Paper form: depth L over ``ladder.layers`` (default 1..8) at width H = AR * L, with
    ``ladder.n_heads`` heads and FFN width ``ladder.ffn_ratio * H``.

    Example:
        >>> from raylaws.spec import spec_from_dict
        >>> spec = spec_from_dict({"name": "x", "ladder": {"aspect_ratio": 32},
        ...     "training": {"max_steps": 10},
        ...     "search": {"learning_rate": {"low": 1e-4, "high": 1e-2}, "batch_size": [8]}})
        >>> [r.n_params for r in build_ladder(spec)][:3]
        [12288, 98304, 331776]
    """
    ladder = spec.ladder
    rungs = []
    if ladder.rungs is not None:
        for explicit in ladder.rungs:
            d_ff = explicit.d_ff or 4 * explicit.d_model
            name = explicit.name or f"L{explicit.n_layers}-H{explicit.d_model}"
            rungs.append(_rung(spec.objective, name, explicit.n_layers, explicit.d_model, explicit.n_heads, d_ff))
    else:
        aspect_ratio = ladder.aspect_ratio or 32
        for depth in ladder.layers or list(range(1, 9)):
            width = aspect_ratio * depth
            rungs.append(_rung(spec.objective, f"L{depth}-H{width}", depth, width, ladder.n_heads, ladder.ffn_ratio * width))
    names = [r.name for r in rungs]
    if len(set(names)) != len(names):
        raise SpecError([SpecProblem("ladder.rungs", "two rungs have the same shape and name; give each a distinct name")])
    return tuple(sorted(rungs, key=lambda r: (r.n_params, r.name)))


def _rung(objective: Objective, name: str, n_layers: int, d_model: int, n_heads: int, d_ff: int) -> Rung:
    if d_model % n_heads:
        raise SpecError([SpecProblem("ladder.n_heads", f"width {d_model} of rung {name} is not divisible by "
                                                         f"{n_heads} heads; change aspect_ratio or n_heads")])
    return Rung(
        name=name,
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_ff=d_ff,
        n_params=paper_n_params(n_layers, d_model),
        n_params_exact=exact_non_embedding_params(objective, n_layers, d_model, d_ff),
    )

