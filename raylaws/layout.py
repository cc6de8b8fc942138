"""The sweep directory: the one owner of every path in it.

A sweep is one directory, ``<storage>/<name>/``::

    spec.yaml            the resolved spec, exactly what ran
    sweep.json           versions and data fingerprint
    optuna.journal       the per-size Optuna studies (append-only; one writer: the driver)
    events.jsonl         one line per trial started/finished/re-attached, per driver run
    trials/              the Arrow store: one Parquet record per finished trial
    tune/                Ray Tune's experiment directory (trial checkpoints)
    models/              each seed-phase pretraining trial's best model in Hugging Face format,
                         models/<trial_id>/ (save_pretrained files and the tokenizer)
    .lock                held by the driver running the sweep
    ray-processes.json   the local Ray's processes, to clean up after a hard kill
    report.html          the sweep's HTML report (``raylaws report``)

Every other module asks :class:`SweepLayout` for a path; no other module spells a file name
of the sweep. The layout is a value (a root path), so it pickles into Ray's ``tuner.pkl``.

A sweep can also live in object storage: any URI that ``pyarrow.fs.FileSystem.from_uri``
accepts (``s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http``, ``gs://``,
``hdfs://``). Its layout then holds the ``pyarrow.fs`` filesystem, ``root`` is the path inside
it (``bucket/prefix/name``) and ``uri`` the sweep's URI; the names are the same. A driver
never runs on a remote layout directly: it works in a local mirror (:mod:`raylaws.remote`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(location: Union[str, Path]) -> bool:
    """Whether ``location`` names object storage (``s3://...``), not a local path."""
    return isinstance(location, str) and bool(_URI.match(location)) and not location.startswith("file://")


def _local(location: Union[str, Path]) -> Path:
    text = str(location)
    return Path(text[len("file://"):]) if text.startswith("file://") else Path(text)


class LayoutError(RuntimeError):
    """The sweep's storage cannot be used (missing, not a directory, not writable)."""


@dataclass(frozen=True)
class SweepLayout:
    """Every path of one sweep, under ``root`` (``<storage>/<name>``)."""

    root: Path  # local: the directory; remote: the path inside ``filesystem`` (bucket/prefix/name)
    filesystem: Optional[Any] = None  # a pyarrow.fs.FileSystem for a remote sweep; None: local disk
    uri: Optional[str] = None  # a remote sweep's URI as given (query included)

    SPEC = "spec.yaml"
    META = "sweep.json"
    JOURNAL = "optuna.journal"
    EVENTS = "events.jsonl"
    TRIALS = "trials"
    TUNE = "tune"
    LOCK = ".lock"
    RAY_PROCESSES = "ray-processes.json"
    REPORT = "report.html"
    MODELS = "models"

    @classmethod
    def at(cls, root: Union[str, Path]) -> "SweepLayout":
        if not is_uri(root):
            return cls(_local(root))
        from pyarrow.fs import FileSystem

        try:
            filesystem, path = FileSystem.from_uri(str(root))
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError...: one line either way
            raise LayoutError(f"storage {str(root)!r} cannot be used ({str(error).splitlines()[0]})") from None
        return cls(Path(path.rstrip("/")), filesystem, str(root))

    @classmethod
    def of(cls, storage: Union[str, Path], name: str) -> "SweepLayout":
        if not is_uri(storage):
            return cls(_local(storage) / name)
        base, sep, query = str(storage).partition("?")
        return cls.at(f"{base.rstrip('/')}/{name}{sep}{query}")

    @property
    def is_remote(self) -> bool:
        return self.filesystem is not None

    @property
    def location(self) -> str:
        """The sweep as the user names it: its directory, or its URI."""
        return self.uri if self.uri is not None else str(self.root)

    @property
    def storage(self) -> Union[str, Path]:
        """The root of sweeps this one lives in (its ``--storage``)."""
        if self.uri is None:
            return self.root.parent
        base, sep, query = self.uri.partition("?")
        return f"{base.rstrip('/').rpartition('/')[0]}{sep}{query}"

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
    def models(self) -> Path:
        """The kept models' folder (see :func:`model_path`)."""
        return self.root / self.MODELS

    @staticmethod
    def model_path(trial_id: str) -> str:
        """Where the kept model of ``trial_id`` lives, relative to the sweep (the records'
        ``model_path``): ``models/<trial_id>``."""
        return f"{SweepLayout.MODELS}/{trial_id}"

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    @property
    def ray_processes(self) -> Path:
        return self.root / self.RAY_PROCESSES

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    def exists(self) -> bool:
        """Whether this holds a sweep (its spec was stored)."""
        if self.filesystem is not None:
            return self.is_file(self.spec)
        return self.spec.is_file()

    # ---- remote files (a remote layout only) --------------------------------------------------

    def is_file(self, path: Path) -> bool:
        from pyarrow.fs import FileType

        return self.filesystem.get_file_info(str(path)).type == FileType.File

    def read_bytes(self, path: Path) -> bytes:
        with self.filesystem.open_input_stream(str(path)) as stream:
            return stream.read()

    def write_bytes(self, path: Path, content: bytes) -> None:
        """One object put: the object appears whole or not at all (no partial object)."""
        with self.filesystem.open_output_stream(str(path)) as stream:
            stream.write(content)

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


__all__ = ["LayoutError", "SweepLayout", "is_uri"]
