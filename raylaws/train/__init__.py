"""A trial: build a size's model, train it, evaluate it, stop early; no Ray inside.

Backends (:class:`Engine`): plain torch (CPU or GPU, autocast bf16/fp16, DDP across workers)
and DeepSpeed (ZeRO 0-3; imported only when a size uses it). Finetuning trials
(:func:`finetune_trial`) start from models kept in Hugging Face format (:func:`save_model`).
Several trials of one size can train in one process as one stacked model (:func:`train_stacked`). The trial's vocabulary
(:class:`~raylaws.trial.Hyperparameters`, :class:`~raylaws.trial.Progress`,
:class:`~raylaws.trial.Outcome`, ...) lives in :mod:`raylaws.trial`.
"""

from raylaws.train._checkpoint import TrialState
from raylaws.train._distributed import CPU_SWITCH
from raylaws.train._engine import Engine, TorchEngine
from raylaws.train._finetune import finetune_trial
from raylaws.train._loop import train_trial
from raylaws.train._model import build_model, non_embedding_params
from raylaws.train._pretrained import clean_partial_models, load_classifier, save_model
from raylaws.train._stacked import Member, train_stacked
from raylaws.trial import Hyperparameters, Outcome, Progress  # re-exported for the runner's imports

__all__ = [
    "CPU_SWITCH",
    "Engine",
    "Hyperparameters",
    "Member",
    "Outcome",
    "Progress",
    "TorchEngine",
    "TrialState",
    "build_model",
    "clean_partial_models",
    "finetune_trial",
    "load_classifier",
    "non_embedding_params",
    "save_model",
    "train_stacked",
    "train_trial",
]
