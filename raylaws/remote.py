"""A sweep in object storage (``s3://``, ``gs://``, ``hdfs://``), run from a local mirror.

Object stores have no rename, no hard link, no append and no ``flock``, so the driver does
not work on the store directly. It works on a local copy of the sweep, the *mirror*
(``$RAYLAWS_CACHE/sweeps/<hash of the URI>/<name>``, default ``~/.cache/raylaws``), with
exactly the code and guarantees of a local sweep, and publishes to the store as it goes:

* at start: the mirror is wiped and restored from the store (``spec.yaml``, ``sweep.json``,
  ``optuna.journal``, ``events.jsonl``, ``trials/*.parquet``, ``models/``): the store is the
  truth;
* each record, right after it is published locally and before its study is told: one put of
  ``trials/<trial_id>.parquet``, unless that key exists (write-once: never overwritten); a
  trial that kept a model (``models/<trial_id>/``) puts its files first, so a record in the
  store never names a model that is not there whole;
* the journal and the event log after every planner event (a trial asked and started, a
  trial told and finished), inside the planner's lock, so a trial never starts training
  before its ask is in the store;
* ``spec.yaml`` and ``sweep.json`` once stored, and journal and events again at the end.

One driver at a time: a :class:`Lease` object (``.lease``) replaces the local ``flock``.

Tune's ``storage_path`` (trial checkpoints) stays in the mirror, on the driver's disk: a
driver that is lost takes its running trials' checkpoints with it, and a resume elsewhere
re-runs those trials from step 0 under their own ``trial_id`` (finished trials are never
re-run: their records are in the store).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from raylaws.errors import SweepError
from raylaws.layout import SweepLayout

logger = logging.getLogger(__name__)

CACHE_ENV = "RAYLAWS_CACHE"  # where mirrors live; default ~/.cache/raylaws
LEASE_SECONDS = 60.0  # a lease not renewed for this long is free to take
RENEW_SECONDS = 10.0  # the heartbeat's period


class LeaseLost(SweepError):
    """Another driver holds the sweep's lease now: this one must stop writing to the store."""


def mirror_layout(remote: SweepLayout) -> SweepLayout:
    """The local mirror of the remote sweep ``remote``."""
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "raylaws").expanduser()
    digest = hashlib.sha256(str(remote.uri).encode()).hexdigest()[:16]
    return SweepLayout(cache / "sweeps" / digest / remote.name)


def download(remote: SweepLayout, local: SweepLayout) -> None:
    """Make ``local`` an exact copy of the remote sweep's state (anything else there is removed)."""
    from pyarrow.fs import FileSelector, FileType

    shutil.rmtree(local.root, ignore_errors=True)
    local.trials.mkdir(parents=True)
    for name in (SweepLayout.SPEC, SweepLayout.META, SweepLayout.JOURNAL, SweepLayout.EVENTS):
        source = remote.root / name
        if remote.is_file(source):
            (local.root / name).write_bytes(remote.read_bytes(source))
    for info in remote.filesystem.get_file_info(FileSelector(str(remote.trials), allow_not_found=True)):
        if info.type == FileType.File and info.base_name.endswith(".parquet") and not info.base_name.startswith("."):
            (local.trials / info.base_name).write_bytes(remote.read_bytes(Path(info.path)))
    selector = FileSelector(str(remote.models), allow_not_found=True, recursive=True)
    for info in remote.filesystem.get_file_info(selector):
        relative = Path(info.path).relative_to(remote.models)
        if info.type == FileType.File and not relative.parts[0].startswith("."):
            target = local.models / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(remote.read_bytes(Path(info.path)))


class Mirror:
    """Publishes a local mirror's new state to the remote sweep, while ``lease`` is held."""

    def __init__(self, remote: SweepLayout, lease: "Lease", local: Optional[SweepLayout] = None) -> None:
        self.remote = remote
        self.local = local or mirror_layout(remote)
        self.lease = lease

    def restore(self) -> None:
        download(self.remote, self.local)

    def push_record(self, trial_id: str) -> bool:
        """Put ``trials/<trial_id>.parquet`` unless the key exists; True if this call put it."""
        from raylaws.store import record_path

        key = record_path(self.remote.trials, trial_id)
        self.lease.check()
        if self.remote.is_file(key):
            return False
        self._push_model(trial_id)
        self.remote.write_bytes(key, record_path(self.local.trials, trial_id).read_bytes())
        return True

    def _push_model(self, trial_id: str) -> None:
        """Put the files of the model ``trial_id`` kept, if it kept one (one put per file)."""
        folder = self.local.root / SweepLayout.model_path(trial_id)
        if not folder.is_dir():
            return
        target = self.remote.root / SweepLayout.model_path(trial_id)
        self.remote.filesystem.create_dir(str(target), recursive=True)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.remote.write_bytes(target / path.relative_to(folder), path.read_bytes())

    def push_state(self) -> None:
        """The journal and the event log (whole objects: the store has no append)."""
        self._push(SweepLayout.JOURNAL, SweepLayout.EVENTS)

    def push_spec(self) -> None:
        self._push(SweepLayout.META, SweepLayout.SPEC)

    def _push(self, *names: str) -> None:
        self.lease.check()
        for name in names:
            path = self.local.root / name
            if path.exists():
                self.remote.write_bytes(self.remote.root / name, path.read_bytes())


class Lease:
    """The remote sweep's one-driver lock: a ``.lease`` object naming its owner and expiry.

    Taken if absent, expired (not renewed for ``seconds``), or held by a process of this host
    that no longer runs (a killed driver). pyarrow's filesystems have no conditional put, so a
    take is a put followed by a read-back; a heartbeat thread renews it every ``renew``
    seconds, and on finding another owner marks it lost: :meth:`check` then raises
    :class:`LeaseLost` before any further write. See ``docs/object-storage.md`` ("The lease") for what this does
    and does not guarantee.
    """

    def __init__(self, remote: SweepLayout, *, seconds: float = LEASE_SECONDS, renew: float = RENEW_SECONDS) -> None:
        self.key = remote.root / ".lease"
        self.remote = remote
        self.seconds = seconds
        self.renew = renew
        self.host = socket.gethostname()
        self.owner = f"pid {os.getpid()} on {self.host} ({uuid.uuid4().hex[:8]})"
        self.lost: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "Lease":
        held = self._read()
        if held is not None and held.get("owner") != self.owner and not self._free(held):
            raise SweepError(f"sweep {self.remote.location!r} is already being run ({held.get('owner')}, lease "
                             f"renewed until {time.strftime('%H:%M:%S', time.gmtime(held.get('expires', 0)))} UTC); "
                             "wait for it to finish or stop it first")
        self._write()
        back = self._read()
        if back is None or back.get("owner") != self.owner:
            raise SweepError(f"sweep {self.remote.location!r} was taken by another driver at the same moment "
                             f"({(back or {}).get('owner')})")
        self._thread = threading.Thread(target=self._heartbeat, name="raylaws-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew + 5)
        try:
            held = self._read()
            if held is not None and held.get("owner") == self.owner:
                self.remote.filesystem.delete_file(str(self.key))
        except OSError as error:  # expires on its own
            logger.warning("could not release the lease of %s (%s); it expires in %.0f s", self.remote.location,
                           error, self.seconds)

    def check(self) -> None:
        if self.lost is not None:
            raise LeaseLost(f"sweep {self.remote.location!r}: this driver lost its lease ({self.lost}); it stopped "
                            "writing to the store")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew):
            try:
                held = self._read()
                if held is None or held.get("owner") != self.owner:
                    self.lost = f"now held by {(held or {}).get('owner', 'nobody')}"
                    logger.error("sweep %s: lease lost (%s)", self.remote.location, self.lost)
                    return
                self._write()
            except OSError as error:  # a store hiccup: try again next beat; expiry is 6 beats away
                logger.warning("sweep %s: lease not renewed (%s)", self.remote.location, error)

    def _free(self, held: dict[str, Any]) -> bool:
        if float(held.get("expires", 0)) < time.time():
            return True
        if held.get("host") == self.host and isinstance(held.get("pid"), int):
            try:
                os.kill(held["pid"], 0)
            except ProcessLookupError:
                return True  # its driver died on this host (killed): no need to wait for the expiry
            except PermissionError:
                return False
        return False

    def _read(self) -> Optional[dict[str, Any]]:
        if not self.remote.is_file(self.key):
            return None
        try:
            held = json.loads(self.remote.read_bytes(self.key))
        except (OSError, ValueError):
            return None  # deleted between the two calls, or garbage: free
        return held if isinstance(held, dict) else None

    def _write(self) -> None:
        body = {"owner": self.owner, "host": self.host, "pid": os.getpid(), "expires": time.time() + self.seconds}
        self.remote.write_bytes(self.key, json.dumps(body).encode())


__all__ = ["CACHE_ENV", "Lease", "LeaseLost", "Mirror", "download", "mirror_layout"]
