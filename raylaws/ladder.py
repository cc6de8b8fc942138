"""The model ladder: the sizes a sweep trains, and their parameter counts.

Two counts, never mixed up:

* ``n_params``: the paper's non-embedding count, N = 12 * L * H^2 (Ivgi et al. 2022, after
  Kaplan et al. 2020). This is the x axis of every scaling law in raylaws.
* ``n_params_exact``: the trainable parameters of the model actually built, without the token
  and position embeddings and without the output projection (tied to the token embedding or
  not). It adds biases, LayerNorms and the MLM head's transform to N.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

from raylaws.spec import ExperimentSpec, ResourcesSpec
from raylaws.trial import BackendName, Objective


@dataclass(frozen=True)
class SizeResources:
    """What one trial of a size asks of the cluster, resolved from ``resources`` and its
    ``by_size`` entries.

    Attributes:
        cpus: CPUs per worker (and torch threads).
        gpus: GPUs per worker; a fraction shares one GPU between trials.
        workers: data-parallel workers of one trial.
        backend: ``torch`` or ``deepspeed``.
        zero_stage: DeepSpeed ZeRO stage.
        micro_batch_size: sequences per forward pass per worker (None: the whole batch).
    """

    cpus: int = 1
    gpus: float = 0.0
    workers: int = 1
    backend: BackendName = "torch"
    zero_stage: int = 0
    micro_batch_size: Optional[int] = None

    def describe(self) -> str:
        """A short label such as ``1 CPU, 0.125 GPU, torch`` or ``2 x (4 CPU, 1 GPU), deepspeed ZeRO-2``."""
        one = f"{self.cpus} CPU" + (f", {self.gpus:g} GPU" if self.gpus else "")
        who = one if self.workers == 1 else f"{self.workers} x ({one})"
        backend = self.backend + (f" ZeRO-{self.zero_stage}" if self.backend == "deepspeed" else "")
        return f"{who}, {backend}"


@dataclass(frozen=True)
class Size:
    """One model size of the ladder.

    Attributes:
        name: stable name, e.g. ``"L3-H96"``; keys the size everywhere (store, studies).
        n_layers: depth L.
        d_model: width H.
        n_heads: attention heads.
        d_ff: feed-forward width.
        n_params: the paper's non-embedding count, 12 * L * H^2.
        n_params_exact: non-embedding parameters of the built model (see module docstring).
        resources: what one of its trials asks of the cluster.
        design: the spec design it belongs to (``designs:``), or None; a designed size is
            named ``<design>.<rung>`` so designs never share a study or a trial id.
        round: 0 for the sweep's own run of the size; a debug re-run (``raylaws debug
            --rerun``) trains round 1, 2, ... of it under its own studies and trial ids.
    """

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    n_params: int
    n_params_exact: int
    resources: SizeResources = field(default_factory=SizeResources)
    design: Optional[str] = None
    round: int = 0

    @property
    def key(self) -> str:
        """The planner's key of the size: its name, with ``.r<round>`` for a re-run round. It
        names the size's Optuna studies and prefixes its trial ids."""
        return size_key(self.name, self.round)

    def flops(self, tokens: int) -> float:
        """Training compute C = 6 * N * D, with N the paper's non-embedding count."""
        return 6.0 * self.n_params * tokens


def smaller_sizes(size: Size, sizes: Sequence[Size]) -> list[Size]:
    """The sizes of ``sizes`` smaller than ``size`` (by N) in its design and re-run round,
    smallest first: those that predict it in a size-aware search; their count is its rank,
    which sets its search budget (``search.trials_of``)."""
    group = (getattr(size, "design", None), getattr(size, "round", 0))
    return sorted((other for other in sizes if other.n_params < size.n_params
                   and (getattr(other, "design", None), getattr(other, "round", 0)) == group),
                  key=lambda other: other.n_params)


def size_key(name: str, round: Optional[int]) -> str:
    """The planner's key of size ``name`` in ``round`` (see :attr:`Size.key`)."""
    return f"{name}.r{round}" if round else name


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


def size_resources(resources: ResourcesSpec, name: str, n_params: int) -> SizeResources:
    """The resources of the size ``name`` (paper's N ``n_params``): the defaults, then every
    matching ``by_size`` entry in order (the last one wins for each field it sets)."""
    cpus, gpus, workers = resources.cpus_per_trial, resources.gpus_per_trial, resources.workers
    backend, deepspeed = resources.backend, resources.deepspeed
    for entry in resources.by_size:
        if not entry.selects(name, n_params):
            continue
        cpus = entry.cpus_per_trial if entry.cpus_per_trial is not None else cpus
        gpus = entry.gpus_per_trial if entry.gpus_per_trial is not None else gpus
        workers = entry.workers if entry.workers is not None else workers
        backend = entry.backend or backend
        deepspeed = entry.deepspeed or deepspeed
    return SizeResources(cpus=cpus, gpus=gpus, workers=workers, backend=backend,
                         zero_stage=deepspeed.zero_stage, micro_batch_size=deepspeed.micro_batch_size)


def build_ladder(spec: ExperimentSpec) -> tuple[Size, ...]:
    """The sizes of ``spec``, smallest first (by the paper's N, then name).

    A spec with ``designs`` has every design's ladder, each size named ``<design>.<rung>``
    and built from its design's spec. The shapes come from the validated spec (:meth:`raylaws.spec.LadderSpec.shapes`); this
    only counts parameters and resolves resources.

    Example:
        >>> from raylaws.spec import spec_from_dict
        >>> spec = spec_from_dict({"name": "x", "ladder": {"aspect_ratio": 32},
        ...     "training": {"max_steps": 10},
        ...     "search": {"learning_rate": {"low": 1e-4, "high": 1e-2}, "batch_size": [8]}})
        >>> [s.n_params for s in build_ladder(spec)][:3]
        [12288, 98304, 331776]
    """
    if spec.designs:
        from raylaws.spec import design_spec

        designed = [replace(size, name=f"{name}.{size.name}", design=name)
                    for name in spec.design_names for size in build_ladder(design_spec(spec, name))]
        return tuple(sorted(designed, key=lambda s: (s.n_params, s.name)))
    sizes = []
    for shape in spec.ladder.shapes():
        n_params = paper_n_params(shape.n_layers, shape.d_model)
        sizes.append(Size(
            name=shape.name,
            n_layers=shape.n_layers,
            d_model=shape.d_model,
            n_heads=shape.n_heads,
            d_ff=shape.d_ff,
            n_params=n_params,
            n_params_exact=exact_non_embedding_params(spec.objective, shape.n_layers, shape.d_model, shape.d_ff),
            resources=size_resources(spec.resources, shape.name, n_params),
        ))
    return tuple(sorted(sizes, key=lambda s: (s.n_params, s.name)))
