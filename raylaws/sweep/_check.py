"""Checking a sweep directory (:func:`check`, changing nothing) and a cluster address."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from raylaws import store
from raylaws.errors import SweepError
from raylaws.layout import SweepLayout
from raylaws.spec import SpecError, spec_hash
from raylaws.sweep._stored import holds_trials, layout_at, remote_call, stored_spec, sweep_layout


@dataclass(frozen=True)
class Finding:
    """One inconsistency in a sweep directory: what kind, which file, what is wrong."""

    kind: str  # "bad record", "staged leftover", "journal", "spec"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


def check(path: Union[str, Path]) -> list[Finding]:
    """Everything inconsistent in the sweep directory ``path``, changing nothing.

    Lists the record files that cannot be read, the staged files of a writer that died, a
    ``spec.yaml`` edited since the sweep started (or missing under trials), records made with
    another spec hash, and where the Optuna journal and the records disagree (a finished
    study trial without a record, a search record without a study trial, or different
    outcomes). A trial left running by a killed driver is not a finding: resume re-runs it.

    Raises:
        SweepError: ``path`` holds no sweep at all.
    """
    from raylaws.search import journal_trials, study_trial_id

    layout = layout_at(path)
    if layout.is_remote:
        return _check_remote(layout)
    if not layout.spec.exists() and not holds_trials(layout):
        sweep_layout(path)  # raises the one-line "not a sweep directory"
    findings: list[Finding] = []
    expected: Optional[str] = None
    if not layout.spec.exists():
        findings.append(Finding("spec", str(layout.spec), "missing, but the sweep holds trials"))
    else:
        try:
            expected = spec_hash(stored_spec(layout))
        except SpecError as error:
            findings += [Finding("spec", str(layout.spec), str(problem)) for problem in error.problems]
        except SweepError as error:
            findings.append(Finding("spec", str(layout.spec), str(error)))
    scan = store.scan_trials(layout.trials)
    findings += [Finding("bad record", str(bad.path), bad.reason) for bad in scan.bad]
    findings += [Finding("staged leftover", str(staged), "a record staged by a writer that died (removed by the "
                                                         "next `raylaws resume`)") for staged in scan.staged]
    rows = scan.table.to_pylist()
    if expected is not None:
        findings += [Finding("spec", str(store.record_path(layout.trials, r["trial_id"])),
                             f"made with spec hash {r['spec_hash']}, not the sweep's {expected}")
                     for r in rows if r["spec_hash"] is not None and r["spec_hash"] != expected]
    try:
        studies = journal_trials(layout.journal)
    except Exception as error:  # a damaged journal
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return findings + [Finding("journal", str(layout.journal), f"cannot be read ({first})")]
    by_id = {r["trial_id"]: r for r in rows}
    in_journal = set()
    for size, trials in studies.items():
        for trial in trials:
            trial_id = study_trial_id(size, trial.number)
            in_journal.add(trial_id)
            record = by_id.get(trial_id)
            if record is None:
                if trial.state.is_finished():
                    findings.append(Finding("journal", str(layout.journal),
                                            f"{trial_id} finished ({trial.state.name.lower()}) but has no record"))
                continue
            if trial.state.is_finished() and (trial.state.name == "COMPLETE") != (record["status"] == "completed"):
                findings.append(Finding("journal", str(layout.journal), f"{trial_id} is {trial.state.name.lower()} "
                                                                        f"in the journal but {record['status']} in its record"))
    findings += [Finding("journal", str(store.record_path(layout.trials, trial_id)),
                         "a search record with no trial in the journal")
                 for trial_id, r in by_id.items()
                 if r["phase"] in ("search", "finetune_search") and trial_id not in in_journal]
    return findings


def _check_remote(layout: SweepLayout) -> list[Finding]:
    """:func:`check` of a sweep in object storage: a snapshot downloaded to a temp folder,
    checked there; the findings name the store's keys."""
    import tempfile

    from raylaws.remote import download

    sweep_layout(layout.uri)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="raylaws-check-") as folder:
        local = SweepLayout(Path(folder) / layout.name)
        remote_call(lambda: download(layout, local), layout)
        findings = check(local.root)
    base = layout.location.partition("?")[0].rstrip("/")
    return [Finding(f.kind, f.path.replace(str(local.root), base), f.message.replace(str(local.root), base))
            for f in findings]


def check_address(address: str, timeout_seconds: float = 5.0) -> None:
    """Fail fast, in one line, when a Ray cluster address cannot be reached."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address {address!r} is not host:port (or ray://host:port, or auto)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_seconds).close()
    except OSError as error:
        raise SweepError(f"cannot reach a Ray cluster at {address!r} ({error.strerror or error}); start one with "
                         "`ray start --head` or check the address") from None
