"""The trials table: its Arrow schema, defined once here and versioned.

Bump :data:`SCHEMA_VERSION` when a column changes meaning or type; readers fill columns that
older files lack with nulls.
"""

from __future__ import annotations

import pyarrow as pa

from raylaws.trial import Phase, Status, StopReason

SCHEMA_VERSION = 5  # 2: precision, backend, workers, cpus_per_worker, gpus_per_worker; 3: spec_hash;
# 4: design, task, task_metric, task_score, round, model_path; 5: task_train_examples, task_eval_examples

_COLUMNS: list[tuple[str, pa.DataType, bool, str]] = [
    ("sweep", pa.string(), False, "sweep name (the directory under the storage root)"),
    ("trial_id", pa.string(), False, "stable trial id: '<size>.s<NNN>' (search, Optuna number) or '<size>.seed<K>'"),
    ("size", pa.string(), False, "rung name, e.g. 'L3-H48'"),
    ("n_layers", pa.int32(), False, "depth L"),
    ("d_model", pa.int32(), False, "width H"),
    ("n_params", pa.int64(), False, "the paper's non-embedding parameter count N = 12*L*H^2"),
    ("n_params_exact", pa.int64(), False, "non-embedding parameters of the built model (biases, LayerNorms included; "
                                          "token/position embeddings and tied output projection excluded)"),
    ("phase", pa.string(), False, "'search' (a tuning trial), 'seed' (a re-run of the size's best config), "
                                   "'finetune_search' or 'finetune_seed' (the same for a finetuning task)"),
    ("seed", pa.int64(), False, "training seed: initialisation, data order, masking"),
    ("learning_rate", pa.float64(), False, "peak learning rate"),
    ("batch_size", pa.int32(), False, "sequences per optimizer step (tokens per step = batch_size * seq_len)"),
    ("status", pa.string(), False, "how the trial ended: " + ", ".join(repr(s.value) for s in Status)),
    ("stop_reason", pa.string(), True, "why it stopped: " + ", ".join(repr(r.value) for r in StopReason)),
    ("error", pa.string(), True, "one-line summary of the error of a failed trial"),
    ("eval_loss", pa.float64(), True, "best eval loss (nats per token); null unless measured"),
    ("steps", pa.int64(), False, "optimizer steps taken"),
    ("tokens", pa.int64(), False, "training tokens seen (steps * batch_size * seq_len)"),
    ("flops", pa.float64(), False, "training compute 6 * n_params * tokens (paper's N)"),
    ("wall_seconds", pa.float64(), False, "training wall time of the trial, seconds"),
    ("started_at", pa.timestamp("us", tz="UTC"), True, "when training started"),
    ("finished_at", pa.timestamp("us", tz="UTC"), False, "when the trial ended"),
    ("resumed_from_step", pa.int64(), True, "step of the checkpoint the trial continued from after its worker "
                                            "was lost; null if it ran uninterrupted"),
    ("eval_steps", pa.list_(pa.int64()), True, "steps of the evaluations"),
    ("eval_losses", pa.list_(pa.float64()), True, "eval loss at each of eval_steps"),
    ("precision", pa.string(), True, "numerics of training: 'fp32', 'bf16' or 'fp16' (null before schema 2)"),
    ("backend", pa.string(), True, "'torch' or 'deepspeed' (null before schema 2)"),
    ("workers", pa.int32(), True, "data-parallel workers of the trial (null before schema 2)"),
    ("cpus_per_worker", pa.int32(), True, "CPUs each worker asked of Ray (null before schema 2)"),
    ("gpus_per_worker", pa.float64(), True, "GPUs each worker asked of Ray; a fraction shares a GPU (null before "
                                            "schema 2)"),
    ("spec_hash", pa.string(), True, "hash of the sweep's resolved spec, its name excluded "
                                     "(raylaws.spec.spec_hash); null before schema 3"),
    ("design", pa.string(), True, "the spec's design this trial belongs to (spec 'designs:'); null for a sweep "
                                  "without designs and before schema 4"),
    ("task", pa.string(), True, "finetuning task of a finetune-phase trial; null for pretraining and before schema 4"),
    ("task_metric", pa.string(), True, "the task's metric ('accuracy', 'f1' or 'mcc'); eval_loss then holds "
                                       "1 - metric on the task's evaluation split, as the paper plots it"),
    ("task_score", pa.float64(), True, "the task's best metric on its evaluation split (higher is better)"),
    ("task_train_examples", pa.int64(), True, "labelled examples in the task's training split (the paper found no task "
                                              "under 10,000 with a law of R^2 >= 0.85); null for pretraining and "
                                              "before schema 5"),
    ("task_eval_examples", pa.int64(), True, "labelled examples in the task's evaluation split, which task_score is "
                                             "measured on; null for pretraining and before schema 5"),
    ("round", pa.int32(), True, "0 for a size's first schedule; a debug re-run of the size (raylaws debug --rerun) "
                                "writes round 1, 2, ... and keeps the earlier rounds' records; null before schema 4"),
    ("model_path", pa.string(), True, "where the trial's best checkpoint is kept in Hugging Face format "
                                      "(save_pretrained, with its tokenizer), relative to the sweep folder; "
                                      "set for seed-phase pretraining trials"),
    ("config_json", pa.string(), False, "the resolved trial config (rung, hyperparameters, training, data) as JSON"),
    ("schema_version", pa.int32(), False, "version of this schema"),
]

TRIALS_SCHEMA = pa.schema(
    [pa.field(name, kind, nullable=nullable, metadata={"description": text}) for name, kind, nullable, text in _COLUMNS],
    metadata={"raylaws.schema_version": str(SCHEMA_VERSION), "raylaws.table": "trials"},
)

STATUSES = tuple(status.value for status in Status)
PHASES = tuple(phase.value for phase in Phase)
STOP_REASONS = tuple(reason.value for reason in StopReason)


def describe() -> dict[str, str]:
    """Column name -> description, for the docs and ``--help``."""
    return {name: text for name, _, _, text in _COLUMNS}
