"""What a sweep folder holds: where a sweep is (:func:`sweep_layout`, a folder or a store
URI), whether it holds trials, and its stored spec: ``spec.yaml`` and ``sweep.json`` (its hash,
a copy, versions and the data fingerprint), checked against a spec given to ``run`` and
written once every check has passed."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from raylaws import store
from raylaws.errors import SweepError
from raylaws.layout import LayoutError, SweepLayout
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, load_spec, spec_from_dict, spec_hash

logger = logging.getLogger(__name__)


def holds_trials(layout: SweepLayout) -> bool:
    """Whether the directory holds any trial: a record file or an Optuna journal."""
    trials = layout.trials
    try:
        has_records = trials.is_dir() and any(p.suffix == ".parquet" for p in trials.iterdir())
    except OSError:
        has_records = True  # unreadable: assume the worst, never re-spec it
    if has_records or not layout.journal.exists():
        return has_records
    from raylaws.search import journal_trials

    try:  # studies are created before the cluster check; only their trials count
        return any(journal_trials(layout.journal).values())
    except Exception:  # a damaged journal: assume the worst
        return True


def _read_meta(layout: SweepLayout) -> dict[str, Any]:
    try:
        meta = json.loads(layout.meta.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SweepError(f"{str(layout.meta)!r} cannot be read ({error}); `raylaws check` the sweep") from None
    return meta if isinstance(meta, dict) else {}


def _without_name(spec: ExperimentSpec) -> dict[str, Any]:
    resolved = spec.model_dump(mode="json")
    resolved.pop("name", None)
    return resolved


def stored_spec(layout: SweepLayout) -> ExperimentSpec:
    """The sweep's ``spec.yaml``, checked against the hash (and copy) stored in ``sweep.json``.

    Raises:
        SweepError: ``spec.yaml`` was edited after the sweep started (naming what changed).
    """
    stored = load_spec(layout.spec)
    meta = _read_meta(layout)
    expected = meta.get("spec_hash")
    if expected is None or spec_hash(stored) == expected:  # a sweep from before spec hashes: trusted
        return stored
    original = meta.get("spec")
    changes = ""
    if isinstance(original, dict):
        try:
            was = spec_from_dict(original)
            changes = "; ".join(f"{field}: {old!r} -> {new!r}"
                                for field, old, new in _differences(_without_name(was), _without_name(stored))[:5])
        except SpecError:
            changes = ""
    raise SweepError(f"{str(layout.spec)!r} was edited after the sweep started ({changes or 'hash ' + expected + ' -> ' + spec_hash(stored)}); "
                     "put it back as it was, or start a new sweep with --name")


def check_stored(layout: SweepLayout, spec: ExperimentSpec) -> Optional[ExperimentSpec]:
    """Refuse a spec that does not match what the sweep directory already holds; return the
    stored spec (None: there is none yet). Read-only.

    * records (or a journal) but no ``spec.yaml``: refused, never re-specced;
    * an edited ``spec.yaml``: refused (see :func:`stored_spec`);
    * a different spec than the stored one: refused once the sweep holds any trial (a sweep
      that holds none yet, stopped by a check before its first trial, takes the new spec);
    * records made under another spec hash: refused.

    The spec's ``name`` is not compared: a sweep's name is its folder's name.
    """
    holds = holds_trials(layout)
    if not layout.spec.exists():
        if holds:
            raise SweepError(f"{str(layout.root)!r} holds trials but no {layout.spec.name}; its spec is unknown, so it "
                             "cannot be resumed or given a new spec: restore its spec.yaml, or run under another --name")
        return None
    stored = stored_spec(layout)
    if not holds:
        return stored
    differences = _differences(_without_name(stored), _without_name(spec))
    if differences:
        raise SpecError([SpecProblem(field, f"differs from the sweep in {str(layout.root)!r} "
                                            f"(stored {old!r}, given {new!r}); use the stored spec or "
                                            "start a new sweep with --name")
                         for field, old, new in differences[:20]])
    expected = spec_hash(stored)
    hashes = store.scan_trials(layout.trials).table.column("spec_hash").to_pylist()
    foreign = [h for h in hashes if h is not None and h != expected]
    if foreign:
        raise SweepError(f"{len(foreign)} record(s) in {str(layout.trials)!r} were made with another spec "
                         f"(hash {foreign[0]}, not {expected}); `raylaws check` the sweep")
    return stored


def store_spec(layout: SweepLayout, spec: ExperimentSpec, stored: Optional[ExperimentSpec], fingerprint: str) -> None:
    """Write ``sweep.json`` (versions, data fingerprint, spec hash and copy), then ``spec.yaml``.

    Called once every check has passed, under the sweep's lock, with the stored spec that
    :func:`check_stored` returned. A sweep's stored spec is never rewritten once it holds
    trials (:func:`check_stored` refuses another); one from before spec hashes gets its hash
    added.
    """
    meta = _read_meta(layout)
    resolved = spec.model_dump(mode="json")
    if stored is not None and not _differences(_without_name(stored), _without_name(spec)):
        if meta.get("spec_hash") == spec_hash(spec):
            return
        resolved = stored.model_dump(mode="json")  # adopt the stored spec as it is
    elif stored is not None:
        logger.warning("%s holds no trial yet; its spec is replaced by the one given", layout.root)
    if not meta:
        import importlib.metadata as metadata

        versions = {}
        for package in ("raylaws", "ray", "optuna", "torch", "transformers", "pyarrow", "tokenizers"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = None
        meta = {"created_at": datetime.now(timezone.utc).isoformat(), "versions": versions}
    if meta.get("data_fingerprint", fingerprint) != fingerprint:
        logger.warning("sweep %s was started on data %s; its corpus is now %s (its source, data block or "
                       "raylaws' preparation changed): new records carry the new fingerprint",
                       layout.location, meta["data_fingerprint"], fingerprint)
    meta.update(data_fingerprint=meta.get("data_fingerprint", fingerprint),
                spec_hash=spec_hash(spec_from_dict(resolved)), spec=resolved)
    _write_atomic(layout.meta, json.dumps(meta, indent=2))
    if stored is None or resolved != stored.model_dump(mode="json"):
        _write_atomic(layout.spec, yaml.safe_dump(resolved, sort_keys=False))


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += _differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if old == new else [(prefix or "<root>", old, new)]


def sweep_layout(path: Union[str, Path]) -> SweepLayout:
    """The layout of the sweep at ``path`` (a directory or a store URI).

    Raises:
        SweepError: ``path`` is not a sweep directory (in one line, saying why).
    """
    layout = layout_at(path)
    if layout.is_remote:
        if not remote_call(layout.exists, layout):
            raise SweepError(f"{layout.location!r} is not a sweep (it has no {layout.SPEC}); give <storage>/<name> of "
                             "a sweep started with `raylaws run`")
        return layout
    if not layout.exists():
        hint = ("it does not exist" if not layout.root.exists()
                else f"it holds trials but no {layout.spec.name}" if holds_trials(layout)
                else f"it has no {layout.spec.name}")
        raise SweepError(f"{str(layout.root)!r} is not a sweep directory ({hint}); give <storage>/<name> of a sweep "
                         "started with `raylaws run`")
    return layout


def layout_at(path: Union[str, Path]) -> SweepLayout:
    try:
        return SweepLayout.at(path)
    except LayoutError as error:
        raise SweepError(str(error)) from None


def remote_call(action: Callable[[], Any], layout: SweepLayout) -> Any:
    """``action`` on a remote sweep, with the store's errors as one-line :class:`SweepError`."""
    try:
        return action()
    except OSError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SweepError(f"storage {layout.location!r}: {first}") from None
