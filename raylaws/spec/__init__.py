"""The experiment spec: load ``search_spaces/*.yaml`` once into frozen, typed config."""

from raylaws.spec._load import SpecError, SpecProblem, load_spec, spec_from_dict, spec_from_text, spec_hash
from raylaws.spec._model import (
    DataSpec,
    DeepSpeedSpec,
    ExperimentSpec,
    LadderSpec,
    LearningRateRange,
    PruningSpec,
    ResourcesSpec,
    SizeSpec,
    SearchSpec,
    SizeAwareSpec,
    SizeResourcesSpec,
    TokenizerSpec,
    TrainingSpec,
)

__all__ = [
    "DataSpec",
    "DeepSpeedSpec",
    "ExperimentSpec",
    "LadderSpec",
    "LearningRateRange",
    "PruningSpec",
    "ResourcesSpec",
    "SizeSpec",
    "SearchSpec",
    "SizeAwareSpec",
    "SizeResourcesSpec",
    "SpecError",
    "SpecProblem",
    "TokenizerSpec",
    "TrainingSpec",
    "load_spec",
    "spec_from_dict",
    "spec_from_text",
    "spec_hash",
]
