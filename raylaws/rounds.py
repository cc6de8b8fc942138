"""Re-run rounds of a sweep's sizes: which sizes a debug re-run trains again, with what changed.

``raylaws debug --rerun`` trains flagged sizes again with some spec fields set otherwise
(``training.patience=600``): round 1, then 2, ... Each round is the size's whole schedule
(search, then seeds) under its own studies and trial ids (``<size>.r<round>.s000``), so the
earlier rounds' records stay as they are, and views and fits use each size's latest round
(:func:`raylaws.views.latest_rounds`). The rounds are written down in ``rounds.json`` in the
sweep directory before any of their trials start, so an interrupted re-run resumes.

A size's changes accumulate: round 2 of a size keeps what its round 1 set, plus its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

ROUNDS_FILE = "rounds.json"


@dataclass(frozen=True)
class Round:
    """One re-run round.

    Attributes:
        number: 1, 2, ... (round 0 is the sweep's own run).
        sizes: the sizes it re-runs, each with the spec fields set for it (dotted field ->
            value; its earlier rounds' changes included).
    """

    number: int
    sizes: dict[str, dict[str, Any]]


def read_rounds(root: Path) -> list[Round]:
    """The sweep's rounds, oldest first (empty: none)."""
    path = Path(root) / ROUNDS_FILE
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [Round(int(e["number"]), {str(k): dict(v) for k, v in e["sizes"].items()}) for e in entries]


def write_rounds(root: Path, rounds: list[Round]) -> None:
    """Write ``rounds.json`` whole or not at all (a temp file, then a rename)."""
    path = Path(root) / ROUNDS_FILE
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps([{"number": r.number, "sizes": r.sizes} for r in rounds], indent=2, sort_keys=True)
                    + "\n", encoding="utf-8")
    os.replace(temp, path)


def next_round(rounds: list[Round], changes: Mapping[str, Mapping[str, Any]]) -> Round:
    """The round that re-runs ``changes``' sizes, each with its changes on top of those of its
    latest earlier round."""
    sizes = {}
    for size, fields in changes.items():
        earlier = next((r.sizes[size] for r in reversed(rounds) if size in r.sizes), {})
        sizes[size] = {**earlier, **fields}
    return Round(1 + max((r.number for r in rounds), default=0), sizes)


__all__ = ["ROUNDS_FILE", "Round", "next_round", "read_rounds", "write_rounds"]
