"""The sweep directory: the one owner of every path in it.

A sweep is one directory, ``<storage>/<name>/``::

    spec.yaml            the resolved spec, exactly what ran
    sweep.json           versions and data fingerprint
    optuna.journal       the per-size Optuna studies (append-only; one writer: the driver)
    events.jsonl         one line per trial started/finished/re-attached, per driver run
    trials/              the Arrow store: one Parquet record per finished trial
    tune/                Ray Tune's experiment directory (trial checkpoints)
    .lock                held by the driver running the sweep
    ray-processes.json   the local Ray's processes, to clean up after a hard kill

Every other module asks :class:`SweepLayout` for a path; no other module spells a file name
of the sweep. The layout is a value (a root path), so it pickles into Ray's ``tuner.pkl``.
Local paths today; object storage slots in behind the same names (a ``pyarrow.fs`` root).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union


class LayoutError(RuntimeError):
    """The sweep's storage cannot be used (missing, not a directory, not writable)."""


@dataclass(frozen=True)
class SweepLayout:
    """Every path of one sweep, under ``root`` (``<storage>/<name>``)."""

    root: Path

    SPEC = "spec.yaml"
    META = "sweep.json"
    JOURNAL = "optuna.journal"
    EVENTS = "events.jsonl"
    TRIALS = "trials"
    TUNE = "tune"
    LOCK = ".lock"
    RAY_PROCESSES = "ray-processes.json"

    @classmethod
    def at(cls, root: Union[str, Path]) -> "SweepLayout":
        return cls(Path(root))

    @classmethod
    def of(cls, storage: Union[str, Path], name: str) -> "SweepLayout":
        return cls(Path(storage) / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def spec(self) -> Path:
        return self.root / self.SPEC

    @property
    def meta(self) -> Path:
        return self.root / self.META

    @property
    def journal(self) -> Path:
        return self.root / self.JOURNAL

    @property
    def events(self) -> Path:
        return self.root / self.EVENTS

    @property
    def trials(self) -> Path:
        """The Arrow store's folder (see :mod:`raylaws.store`)."""
        return self.root / self.TRIALS

    @property
    def tune_storage(self) -> Path:
        """Ray Tune's ``storage_path``; its experiment is named :attr:`TUNE`."""
        return self.root.resolve()

    @property
    def tune(self) -> Path:
        return self.root / self.TUNE

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    @property
    def ray_processes(self) -> Path:
        return self.root / self.RAY_PROCESSES

    def exists(self) -> bool:
        """Whether this holds a sweep (its spec was stored)."""
        return self.spec.is_file()

    def create(self) -> None:
        """Make the directory and check that it is writable, or raise :class:`LayoutError`."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as error:
            raise LayoutError(f"storage {str(self.root.parent)!r} is not writable ({error.strerror or error}); "
                              "give --storage a directory you can write") from None


__all__ = ["LayoutError", "SweepLayout"]
