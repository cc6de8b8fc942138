"""The experiment spec: load ``search_spaces/*.yaml`` once into frozen, typed config."""

from raylaws.spec._load import SpecError, SpecProblem, load_spec, spec_from_dict, spec_from_text
from raylaws.spec._model import (
    DataSpec,
    ExperimentSpec,
    LadderSpec,
    LearningRateRange,
    PruningSpec,
    ResourcesSpec,
    RungSpec,
    SearchSpec,
    TokenizerSpec,
    TrainingSpec,
)

__all__ = [
    "DataSpec",
    "ExperimentSpec",
    "LadderSpec",
    "LearningRateRange",
    "PruningSpec",
    "ResourcesSpec",
    "RungSpec",
    "SearchSpec",
    "SpecError",
    "SpecProblem",
    "TokenizerSpec",
    "TrainingSpec",
    "load_spec",
    "spec_from_dict",
    "spec_from_text",
]
