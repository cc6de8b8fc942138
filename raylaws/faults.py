"""Fault injection for raylaws's own tests, in one place; inert unless ``RAYLAWS_FAULTS`` is set.

``RAYLAWS_FAULTS`` holds JSON with any of:

* ``"raise": {"<trial_id>": N}`` and ``"marker_dir": "<dir>"``: the trial raises on its first
  N attempts (attempts are counted with marker files, so one machine only);
* ``"pause_after_record": "<trial_id>"`` and ``"pause_seconds": S``: the driver sleeps for S
  seconds right after publishing that trial's record and before telling its study, a window
  in which a test kills the driver;
* ``"hold_seconds": S`` and ``"marker_dir": "<dir>"``: every trial holds its resources for S
  seconds before training and writes when it held them (``<trial_id>.hold``: start and end,
  epoch seconds), so placement tests can see which trials ran at once;
* ``"delay": {"<trial_id>": S}``: that trial sleeps S seconds before training (every attempt),
  so it finishes later than it would: trials finish in another order.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ENV = "RAYLAWS_FAULTS"


@dataclass(frozen=True)
class Faults:
    """The faults to inject (none by default). A value, so it pickles to Ray's workers."""

    raise_times: dict[str, int] = field(default_factory=dict)
    marker_dir: Optional[str] = None
    pause_after_record: Optional[str] = None
    pause_seconds: float = 3600.0
    hold_seconds: float = 0.0
    delay_seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Faults":
        text = os.environ.get(ENV)
        if not text:
            return cls()
        raw: dict[str, Any] = json.loads(text)
        return cls(raise_times={k: int(v) for k, v in (raw.get("raise") or {}).items()},
                   marker_dir=raw.get("marker_dir"), pause_after_record=raw.get("pause_after_record"),
                   pause_seconds=float(raw.get("pause_seconds", 3600)),
                   hold_seconds=float(raw.get("hold_seconds", 0.0)),
                   delay_seconds={k: float(v) for k, v in (raw.get("delay") or {}).items()})

    def maybe_raise(self, trial_id: str) -> None:
        """In a trial, before training: raise if this attempt is one of the first N."""
        times = self.raise_times.get(trial_id)
        if not times or self.marker_dir is None:
            return
        marker_dir = Path(self.marker_dir)
        marker_dir.mkdir(parents=True, exist_ok=True)
        attempt = len(list(marker_dir.glob(f"{trial_id}.*"))) + 1
        (marker_dir / f"{trial_id}.{attempt}").touch()
        if attempt <= times:
            raise RuntimeError(f"injected fault in {trial_id} (attempt {attempt})")

    def maybe_delay(self, trial_id: str) -> None:
        """In a trial, before training: sleep if this trial is one to slow down."""
        time.sleep(self.delay_seconds.get(trial_id, 0.0))

    def maybe_hold(self, trial_id: str) -> None:
        """In a trial, before training: hold the trial's resources a while, and say when."""
        if not self.hold_seconds or self.marker_dir is None:
            return
        start = time.time()
        time.sleep(self.hold_seconds)
        Path(self.marker_dir).mkdir(parents=True, exist_ok=True)
        (Path(self.marker_dir) / f"{trial_id}.hold").write_text(f"{start} {time.time()}")

    def maybe_pause_after_record(self, trial_id: str, log: Callable[[str], None]) -> None:
        """In the driver, after a record is published: sleep (``log`` first) if asked to."""
        if self.pause_after_record == trial_id:
            log(trial_id)
            time.sleep(self.pause_seconds)


__all__ = ["ENV", "Faults"]
