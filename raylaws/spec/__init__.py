"""The experiment spec: load ``search_spaces/*.yaml`` once into frozen, typed config.

The models by concern: ``_data`` (data and tokenizer), ``_ladder`` (model sizes), ``_training``,
``_search`` (search range, pruning, strategy), ``_seeds`` (seed re-runs: a count or a rule),
``_resources`` (cluster), ``_finetune`` (tasks), ``_experiment`` (the whole spec and its designs),
all on ``_base``; ``_hash`` (its identity) and ``_load`` (YAML, validation errors, overrides) read
them.
"""

from raylaws.spec._load import (
    SpecError,
    SpecProblem,
    design_spec,
    load_spec,
    parse_overrides,
    spec_from_dict,
    spec_from_text,
    with_overrides,
)
from raylaws.spec._data import DataSpec, TokenizerSpec, TokensSpec
from raylaws.spec._experiment import DesignSpec, ExperimentSpec
from raylaws.spec._finetune import BUILTIN_TASKS, FinetuneSpec, TaskSpec
from raylaws.spec._hash import spec_hash
from raylaws.spec._ladder import LadderSpec, SizeSpec
from raylaws.spec._resources import DeepSpeedSpec, ResourcesSpec, SizeResourcesSpec
from raylaws.spec._search import LearningRateRange, PruningSpec, SearchSpec, SizeAwareSpec
from raylaws.spec._seeds import SeedsSpec
from raylaws.spec._training import TrainingSpec

__all__ = [
    "BUILTIN_TASKS",
    "DataSpec",
    "TokensSpec",
    "DeepSpeedSpec",
    "DesignSpec",
    "ExperimentSpec",
    "FinetuneSpec",
    "LadderSpec",
    "LearningRateRange",
    "PruningSpec",
    "ResourcesSpec",
    "SizeSpec",
    "SearchSpec",
    "SeedsSpec",
    "SizeAwareSpec",
    "SizeResourcesSpec",
    "SpecError",
    "SpecProblem",
    "TaskSpec",
    "TokenizerSpec",
    "TrainingSpec",
    "design_spec",
    "load_spec",
    "parse_overrides",
    "spec_from_dict",
    "spec_from_text",
    "spec_hash",
    "with_overrides",
]
