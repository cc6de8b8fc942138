"""A sweep's spec hash is its identity in every record: new spec fields must not change it."""

from __future__ import annotations

from pathlib import Path

from raylaws.spec import design_spec, load_spec, spec_from_dict, spec_hash
from raylaws.spec._hash import LATER_FIELDS, _field_default

# A spec written before any of LATER_FIELDS existed, and its hash then (raylaws 0.x, schema 3).
OLD_SPEC = {"name": "h", "ladder": {"aspect_ratio": 8, "layers": [1, 2]},
            "training": {"max_steps": 10, "eval_interval": 5},
            "search": {"learning_rate": {"low": 1e-3, "high": 1e-2}, "batch_size": [4], "trials_per_size": 2}}
OLD_HASH = "670fd13c55ef4d64"


def test_an_old_spec_keeps_its_hash() -> None:
    assert spec_hash(spec_from_dict(OLD_SPEC)) == OLD_HASH


def test_the_name_is_not_part_of_the_hash() -> None:
    assert spec_hash(spec_from_dict({**OLD_SPEC, "name": "renamed"})) == OLD_HASH


def test_a_changed_field_changes_the_hash() -> None:
    changed = {**OLD_SPEC, "seeds": 5}
    assert spec_hash(spec_from_dict(changed)) != OLD_HASH


def test_a_later_field_set_away_from_its_default_changes_the_hash() -> None:
    for path in LATER_FIELDS:
        exists, default = _field_default(path.split("."))
        if not exists or not isinstance(default, str):
            continue
        section, field = path.split(".")
        model = spec_from_dict(OLD_SPEC)
        choices = getattr(type(getattr(model, section)).model_fields[field].annotation, "__args__", ())
        other = next((choice for choice in choices if isinstance(choice, str) and choice != default), None)
        if other is None:
            continue
        changed = {**OLD_SPEC, section: {**OLD_SPEC.get(section, {}), field: other}}
        assert spec_hash(spec_from_dict(changed)) != OLD_HASH, path


# The hashes of the shipped specs and of a spec that sets a field of every section, as computed
# before the spec models were split into modules (commit f69c924): moving a model must not
# change them. demo.yaml's changed with its spec (2a573db5c8874f7a until its seeds became a
# rule, issue 23 step 4); demo_finetune.yaml's content changed too (issue 23: stdlib-identifier
# and its budget; then the demo's pretraining, stdlib-next-identifier and a grid); its specs
# before those still hash to b4a042568fdca5e8 and e93038efbc820a69.
SHIPPED_HASHES = {"demo.yaml": "87a905eee71f0c1d", "demo_finetune.yaml": "d107ee91dab3662b",
                  "paper_mlm_ar32.yaml": "cbff4823a5856356"}
FULL_SPEC = {
    "name": "every-section",
    "data": {"source": "corpus/", "tokenizer": {"kind": "pretrained", "path": "tok/"},
             "tokens": {"vocab_size": 50257, "eos_id": 50256, "dtype": "uint16"}, "txt_split": "paragraph",
             "max_document_bytes": 4096, "shard_bytes": 1 << 20, "workers": 2, "cache": "s3://bucket/cache",
             "seq_len": 128, "max_tokens": 100_000, "eval_tokens": 1024},
    "objective": "mlm",
    "ladder": {"rungs": [{"name": "tiny", "n_layers": 1, "d_model": 16, "n_heads": 2},
                         {"n_layers": 2, "d_model": 32, "d_ff": 100}], "tie_embeddings": False},
    "training": {"max_tokens": 1_000_000, "warmup_steps": 10, "schedule": "linear", "eval_interval": 20,
                 "patience": 100, "min_delta": 0.01, "weight_decay": 0.1, "grad_clip": None, "dropout": 0.1,
                 "checkpoint_every": None, "precision": "bf16", "compile": True},
    "search": {"learning_rate": {"low": 1e-4, "high": 1e-1}, "batch_size": [8, 16, 32], "trials_per_size": 6,
               "sampler": "random", "sampler_seed": 7, "pruning": {"enabled": False, "grace_steps": 50},
               "parallel": 2, "strategy": "size_aware",
               "size_aware": {"trials_after_first": 5, "first_box_factor": 4.0, "widen_trials": 3}},
    "seeds": 2,
    "resources": {"cpus_per_trial": 2, "gpus_per_trial": 0.5, "backend": "deepspeed",
                  "deepspeed": {"zero_stage": 2, "micro_batch_size": 4},
                  "by_size": [{"sizes": ["tiny"], "gpus_per_trial": 0.25},
                              {"min_params": 10_000, "workers": 2, "backend": "torch"}],
                  "max_concurrent_trials": 3, "max_retries": 2, "autoscaling": True, "node_wait_seconds": 60.0},
    "designs": [{"name": "narrow", "set": {"search.parallel": 1}}, {"name": "wide", "set": {"ladder.tie_embeddings": True}}],
    "finetune": {"tasks": [{"name": "stdlib-family"}, {"name": "glue", "data": "glue.tsv", "metric": "mcc",
                                                         "text_pair_field": "sentence2"}],
                 "epochs": [1, 2], "trials_per_task": 3, "seeds": 1, "max_length": 64, "start_from": "seed1",
                 "pruning": {"enabled": True}},
}
FULL_HASH = "df53ff6631f52b8a"
FULL_DESIGN_HASHES = {"narrow": "c2df32a554bde363", "wide": "43fdf26bd1934c43"}


def test_the_shipped_specs_keep_their_hashes() -> None:
    folder = Path(__file__).resolve().parents[2] / "search_spaces"
    assert {path.name: spec_hash(load_spec(path)) for path in sorted(folder.glob("*.yaml"))} == SHIPPED_HASHES


def test_a_spec_with_every_section_keeps_its_hash() -> None:
    spec = spec_from_dict(FULL_SPEC)
    assert spec_hash(spec) == FULL_HASH
    assert {name: spec_hash(design_spec(spec, name)) for name in spec.design_names} == FULL_DESIGN_HASHES
