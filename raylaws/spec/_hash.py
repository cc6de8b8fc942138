"""A spec's hash (:func:`spec_hash`): the identity of what a sweep trains."""

from __future__ import annotations

import hashlib
import json
import typing
from typing import Any

from raylaws.spec._experiment import ExperimentSpec


def spec_hash(spec: ExperimentSpec) -> str:
    """The identity of what a sweep trains: a hash of the resolved spec, its ``name`` excluded.

    The name is left out because a sweep's name is its folder's name (a moved or renamed
    sweep is the same sweep); every other field, defaults included, is in, except that a
    field added after a sweep could have been made (:data:`LATER_FIELDS`) is left out while it
    holds its default, so an older sweep keeps its hash. Stored in the sweep's ``sweep.json``
    and in every record (``spec_hash``).
    """
    resolved = spec.model_dump(mode="json")
    resolved.pop("name", None)
    for path in LATER_FIELDS:
        _drop_if_default(resolved, path.split("."))
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Spec fields added after the first sweeps were made ("section.field"): hashed only when set to
# something other than their default. Add every new field here.
LATER_FIELDS: tuple[str, ...] = ("ladder.activation", "search.strategy", "search.size_aware", "finetune", "designs",
                                 "data.tokenizer.sample_bytes", "data.tokens", "data.txt_split",
                                 "data.max_document_bytes", "data.shard_bytes", "data.workers", "data.cache",
                                 "search.parallel", "training.master_weights", "finetune.grid")


def _field_default(path: list[str]) -> tuple[bool, Any]:
    """``(exists, default as JSON)`` of the spec field at ``path``."""
    import pydantic

    model: Any = ExperimentSpec
    for depth, part in enumerate(path):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False, None
        field = fields[part]
        if depth == len(path) - 1:
            value = field.get_default(call_default_factory=True)
            return True, pydantic.TypeAdapter(Any).dump_python(value, mode="json")
        model = next((arg for arg in (field.annotation, *typing.get_args(field.annotation))
                      if isinstance(arg, type) and issubclass(arg, pydantic.BaseModel)), None)
    return False, None


def _drop_if_default(resolved: dict[str, Any], path: list[str]) -> None:
    exists, default = _field_default(path)
    parent: Any = resolved
    for part in path[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if exists and isinstance(parent, dict) and path[-1] in parent and parent[path[-1]] == default:
        del parent[path[-1]]


__all__ = ["LATER_FIELDS", "spec_hash"]
