"""Per-size search: one Optuna study per size, then K seeds of each size's best config.

:class:`SweepPlanner` hands out trials and records how they ended; it is built from the
per-size studies, the schedule of phases, the record builder and the event log.
"""

from raylaws.search._events import Event, EventLog
from raylaws.search._plan import SweepPlanner
from raylaws.search._records import build_record, trial_config
from raylaws.search._schedule import Schedule, SearchPhase, SeedPhase, SizeState, search_trial_id
from raylaws.search._studies import SizeStudies

__all__ = [
    "Event",
    "EventLog",
    "Schedule",
    "SearchPhase",
    "SeedPhase",
    "SizeState",
    "SizeStudies",
    "SweepPlanner",
    "build_record",
    "search_trial_id",
    "trial_config",
]
