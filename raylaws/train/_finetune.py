"""One finetuning trial: a kept pretrained model, a classification head, a task, a score.

Like :func:`raylaws.train.train_trial` it knows nothing of Ray or Optuna and talks through
:class:`~raylaws.trial.TrialHooks`: it reports an evaluation at the end of every epoch (or
``finetune.evals_per_epoch`` times per epoch) with a checkpoint, so Tune's pruning and the
restart of a lost trial work as for pretraining. The step itself is the torch engine's
(:class:`~raylaws.train.TorchEngine`: AdamW with the paper's betas, gradient clipping,
precision); the schedule is constant after ``warmup_fraction`` of the steps of linear warmup.

The score is the task's metric on its evaluation split, and the trial's ``eval_loss`` is
``1 - best score`` (the paper plots 1 - metric against N). Data-parallel finetuning is not
supported: a finetuning trial runs on one worker of its size's resources.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Optional

from raylaws.spec import FinetuneSpec
from raylaws.tasks import TaskData, score
from raylaws.train import _checkpoint
from raylaws.train._batches import MicroBatch
from raylaws.train._engine import TorchEngine
from raylaws.trial import Hyperparameters, Outcome, Status, StopReason, TrialHooks, TrialSettings

if TYPE_CHECKING:
    import torch

_EVAL_BATCH = 256  # examples per evaluation forward pass


def finetune_trial(model_path: str, task: TaskData, hparams: Hyperparameters, settings: TrialSettings,
                   finetune: FinetuneSpec, seed: int, hooks: TrialHooks = TrialHooks()) -> Outcome:
    """Finetune the kept model at ``model_path`` on ``task`` and return how it ended.

    Args:
        model_path: a folder written by :func:`raylaws.train.save_model`.
        task: the tokenized task (:func:`raylaws.tasks.prepare_tasks`).
        hparams: peak learning rate, batch size (examples per step) and epochs.
        settings: the size's trial settings (objective, threads, device, precision, grad clip).
        finetune: the spec's finetuning settings (warmup, dropout, evaluations per epoch).
        seed: fixes the head's initialisation, dropout and the order of the examples.
        hooks: ``report`` after each evaluation (True prunes), ``resume_from`` a checkpoint.

    Returns:
        The :class:`~raylaws.trial.Outcome`; ``eval_loss`` is ``1 - best score``, ``tokens``
        counts padded input tokens seen.
    """
    import torch

    from raylaws.train._pretrained import load_classifier

    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = torch.device("cuda" if settings.device == "cuda" and torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)  # the head's initialisation and dropout
    model = load_classifier(model_path, settings.objective, num_labels=len(task.labels), dropout=finetune.dropout,
                            pad_id=task.pad_id)
    epochs = hparams.epochs or 1
    steps_per_epoch = math.ceil(task.n_train / hparams.batch_size)
    steps = steps_per_epoch * epochs
    training = settings.training.model_copy(update={
        "schedule": "constant", "warmup_steps": int(round(finetune.warmup_fraction * steps)), "max_steps": steps,
        "max_tokens": None, "dropout": finetune.dropout})
    one_worker = dataclasses.replace(settings, training=training, workers=1, backend="torch", zero_stage=0,
                                     micro_batch_size=None)
    engine = _ClassifierEngine(model, hparams, one_worker, steps, device, pad_id=task.pad_id)
    return _Finetune(engine, task, hparams, steps_per_epoch, steps, finetune.evals_per_epoch, seed, hooks).run()


class _ClassifierEngine(TorchEngine):
    """The torch engine with an attention mask over padding (classification batches are padded)."""

    def __init__(self, *args: Any, pad_id: int, **kwargs: Any) -> None:
        super().__init__(*args, world=1, **kwargs)
        self.pad_id = pad_id

    def _forward(self, inputs: "torch.Tensor", labels: Optional["torch.Tensor"]) -> Any:
        return self._wrapped(input_ids=inputs, attention_mask=(inputs != self.pad_id).long(), labels=labels)

    def predict(self, inputs: "torch.Tensor") -> "torch.Tensor":
        """Predicted classes of ``inputs`` (eval mode, no gradients), on the CPU."""
        import torch

        self._train_mode(False)
        out = []
        with torch.no_grad():
            for part in inputs.split(_EVAL_BATCH):
                part = part.to(self.device)
                with self._autocast():
                    logits = self.model(input_ids=part, attention_mask=(part != self.pad_id).long()).logits
                out.append(logits.float().argmax(-1).cpu())
        self._train_mode(True)
        return torch.cat(out)


class _Finetune(_checkpoint.Ledger):
    """The finetuning loop's state between evaluations."""

    def __init__(self, engine: _ClassifierEngine, task: TaskData, hparams: Hyperparameters, steps_per_epoch: int,
                 steps: int, evals_per_epoch: int, seed: int, hooks: TrialHooks) -> None:
        import torch

        self.engine, self.task, self.hparams, self.hooks, self.seed = engine, task, hparams, hooks, seed
        self.steps_per_epoch, self.steps = steps_per_epoch, steps
        self.eval_every = max(1, steps_per_epoch // evals_per_epoch)
        self.train_inputs = torch.from_numpy(task.train_inputs)
        self.train_labels = torch.from_numpy(task.train_labels)
        self.eval_inputs = torch.from_numpy(task.eval_inputs)
        super().__init__(engine, hooks.resume_from)

    def _order(self, epoch: int) -> "torch.Tensor":
        """The order of the training examples in ``epoch``: a function of (seed, epoch) only, so
        a resumed trial sees the same batches."""
        import torch

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.train_labels), generator=generator)

    def run(self) -> Outcome:
        running, count = 0.0, 0
        size = self.hparams.batch_size
        while self.step < self.steps:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            rows = self._order(epoch)[offset * size:(offset + 1) * size]
            inputs, labels = self.train_inputs[rows].to(self.engine.device), self.train_labels[rows].to(self.engine.device)
            loss = self.engine.train_step([MicroBatch(inputs, labels, 1.0, len(rows))])
            if not math.isfinite(loss):
                return self._finish(Status.DIVERGED, StopReason.DIVERGED)
            self.step += 1
            running, count = running + loss, count + 1
            if self.step % self.eval_every and self.step % self.steps_per_epoch and self.step != self.steps:
                continue
            eval_loss = 1.0 - self._score()
            self.history.append((self.step, eval_loss))
            if eval_loss < self.best:
                self.best, self.best_step = eval_loss, self.step
            progress = self._progress(eval_loss, running / count)
            running, count = 0.0, 0
            if self.hooks.report is not None and self.hooks.report(progress, self._save):
                return self._finish(Status.PRUNED, StopReason.PRUNED)
        return self._finish(Status.COMPLETED, StopReason.BUDGET)

    def _score(self) -> float:
        predictions = self.engine.predict(self.eval_inputs).numpy()
        return score(self.task.metric, self.task.eval_labels, predictions, len(self.task.labels))

    def _save(self, folder: str) -> None:
        import torch

        # The order is a function of (seed, epoch): the generator's state is a placeholder.
        _checkpoint.save(folder, self._state(torch.Generator().get_state()), self.engine)

    def _tokens(self) -> int:
        return self.step * self.hparams.batch_size * self.train_inputs.shape[1]
