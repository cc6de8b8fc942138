"""A trial: build a rung's model, train it, evaluate it, stop early; no Ray inside."""

from raylaws.train._loop import Hyperparameters, Outcome, Progress, Report, TrialStatus, total_steps, train_trial
from raylaws.train._model import build_model, non_embedding_params

__all__ = [
    "Hyperparameters",
    "Outcome",
    "Progress",
    "Report",
    "TrialStatus",
    "build_model",
    "non_embedding_params",
    "total_steps",
    "train_trial",
]
