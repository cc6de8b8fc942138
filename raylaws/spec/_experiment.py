"""The whole sweep's spec (:class:`ExperimentSpec`) and its designs (:class:`DesignSpec`)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from raylaws.spec._base import _Frozen
from raylaws.spec._data import DataSpec
from raylaws.spec._finetune import FinetuneSpec
from raylaws.spec._ladder import LadderSpec
from raylaws.spec._resources import ResourcesSpec
from raylaws.spec._search import SearchSpec
from raylaws.spec._seeds import Seeds, SeedsSpec
from raylaws.spec._training import TrainingSpec


class DesignSpec(_Frozen):
    """A named variant of the experiment (the paper's model selection, e.g. PMI masking vs MLM).

    ``set`` maps spec fields, dotted (``ladder.aspect_ratio``) or nested, to the design's
    values; every other field is the spec's own. Each design runs its own ladder and per-size
    studies in the same sweep, with the same budget per size, so designs compare fairly.
    """

    # Names prefix size names and trial ids ('<design>.<size>'): no dots.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=40)
    set: dict[str, Any] = Field(default_factory=dict)


class ExperimentSpec(_Frozen):
    """A whole scaling sweep: data, objective, ladder, training, search, seeds, resources, and
    optionally ``designs`` to compare (see :class:`DesignSpec`) and the finetuning of every size
    on downstream tasks (``finetune``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataSpec = DataSpec()
    objective: Literal["mlm", "clm"] = "clm"
    ladder: LadderSpec = LadderSpec()
    training: TrainingSpec
    search: SearchSpec
    seeds: Seeds = 3  # K re-runs of each size's best config (phase "seed"), or a SeedsSpec rule
    resources: ResourcesSpec = ResourcesSpec()
    designs: list[DesignSpec] = Field(default_factory=list)  # validated further in _load.spec_from_dict

    @field_validator("designs")
    @classmethod
    def _distinct_designs(cls, designs: list[DesignSpec]) -> list[DesignSpec]:
        names = [design.name for design in designs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"design name {', '.join(map(repr, repeated))} appears twice; give each design its own name")
        if len(designs) == 1:
            raise ValueError("one design compares with nothing; declare two or more, or none")
        return designs

    @property
    def design_names(self) -> list[str]:
        """The designs' names in spec order (empty without ``designs``)."""
        return [design.name for design in self.designs]
    finetune: Optional[FinetuneSpec] = None  # the finetuning phase; None: pretraining only

    @model_validator(mode="after")
    def _finetune_has_models(self) -> "ExperimentSpec":
        if self.finetune is None:
            return self
        if self.min_seeds < 1:
            raise ValueError("finetune starts from the seed-phase checkpoints: set 'seeds' to 1 or more")
        if self.finetune.max_length is not None and self.finetune.max_length > self.data.seq_len:
            raise ValueError(f"finetune.max_length ({self.finetune.max_length}) is above data.seq_len "
                             f"({self.data.seq_len}), the models' positions; lower it")
        return self

    @model_validator(mode="after")
    def _size_names_exist(self) -> "ExperimentSpec":
        names = {shape.name for shape in self.ladder.shapes()}
        for index, entry in enumerate(self.resources.by_size):
            unknown = sorted(set(entry.sizes or []) - names)
            if unknown:
                raise ValueError(f"resources.by_size[{index}].sizes: no size named {', '.join(unknown)}; "
                                 f"the sizes are {', '.join(sorted(names))}")
        return self

    @property
    def min_seeds(self) -> int:
        """Seed re-runs every size runs: ``seeds``, or ``seeds.min`` for a rule."""
        return self.seeds.min if isinstance(self.seeds, SeedsSpec) else self.seeds

    @property
    def max_seeds(self) -> int:
        """Seed re-runs a size runs at most: ``seeds``, or ``seeds.max`` for a rule."""
        return self.seeds.max if isinstance(self.seeds, SeedsSpec) else self.seeds

    @property
    def seed_rule(self) -> Optional[SeedsSpec]:
        """The rule that adds seeds where a size's mean is uncertain (None: ``seeds`` is a count)."""
        return self.seeds if isinstance(self.seeds, SeedsSpec) else None

    @property
    def budget_per_size(self) -> int:
        """Pretraining trials each size runs: its search trials plus its seed re-runs (with a
        rule, its first ``seeds.min``: it may add up to ``seeds.max - seeds.min`` more)."""
        return self.search.trials_per_size + self.min_seeds

    @property
    def finetune_budget_per_size(self) -> int:
        """Finetuning trials each size runs over all its tasks (0 without ``finetune``)."""
        if self.finetune is None:
            return 0
        return len(self.finetune.tasks) * self.finetune.budget_per_task


__all__ = ["DesignSpec", "ExperimentSpec"]
