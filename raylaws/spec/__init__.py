"""The experiment spec: load ``search_spaces/*.yaml`` once into frozen, typed config."""

from raylaws.spec._load import SpecError, SpecProblem, load_spec, spec_from_dict, spec_from_text, spec_hash
from raylaws.spec._model import (
    DataSpec,
    DeepSpeedSpec,
    BUILTIN_TASKS,
    ExperimentSpec,
    FinetuneSpec,
    LadderSpec,
    LearningRateRange,
    PruningSpec,
    ResourcesSpec,
    SizeSpec,
    SearchSpec,
    SizeResourcesSpec,
    TaskSpec,
    TokenizerSpec,
    TrainingSpec,
)

__all__ = [
    "BUILTIN_TASKS",
    "DataSpec",
    "DeepSpeedSpec",
    "ExperimentSpec",
    "FinetuneSpec",
    "LadderSpec",
    "LearningRateRange",
    "PruningSpec",
    "ResourcesSpec",
    "SizeSpec",
    "SearchSpec",
    "SizeResourcesSpec",
    "SpecError",
    "SpecProblem",
    "TaskSpec",
    "TokenizerSpec",
    "TrainingSpec",
    "load_spec",
    "spec_from_dict",
    "spec_from_text",
    "spec_hash",
]
