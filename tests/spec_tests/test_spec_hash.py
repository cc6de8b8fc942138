"""A sweep's spec hash is its identity in every record: new spec fields must not change it."""

from __future__ import annotations

from raylaws.spec import spec_from_dict, spec_hash
from raylaws.spec._load import LATER_FIELDS, _field_default

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
