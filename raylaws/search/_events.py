"""The event log: one JSON line per trial started, finished, re-attached or told, per driver run."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class Event:
    """Something a progress display may render: a trial started or finished."""

    kind: str  # "started" | "finished"
    trial_id: str
    size: str
    status: Optional[str] = None
    eval_loss: Optional[float] = None


class EventLog:
    """Appends to the sweep's ``events.jsonl``; each driver run has its own ``run`` id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = uuid.uuid4().hex[:8]

    def log(self, kind: str, trial_id: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(), "run": self.run_id, "event": kind,
                "trial_id": trial_id, **fields}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def emit(self, event: Event) -> None:
        self.log(event.kind, event.trial_id, size=event.size, status=event.status, eval_loss=event.eval_loss)


__all__ = ["Event", "EventLog"]
