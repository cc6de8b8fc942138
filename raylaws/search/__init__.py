"""Per-size search: one Optuna study per size, then seeds of each size's best config.

:class:`SweepPlanner` hands out trials and records how they ended; it is built from the
per-size studies, the schedule of phases, the record builder and the event log.

The modules import one way (each only from those above it in this list): ``_ids`` (trial
ids), ``_state`` (a size's state, the phase protocol), ``_seeds`` (how many seeds each size
runs under a ``seeds`` rule), ``_box`` (a size-aware search's boxes),
``_studies`` (the Optuna studies), ``_phases`` (the search, seed and finetuning phases),
``_predict`` and ``_line_search`` (a size-aware search's prediction and steps), ``_size_aware``
(its phase), ``_schedule`` (a size's phases in order), ``_events``, ``_records``, ``_plan``.
"""

from raylaws.search._box import SearchBox, journal_boxes, size_budgets
from raylaws.search._events import Event, EventLog
from raylaws.search._ids import search_trial_id, study_trial_id
from raylaws.search._phases import SearchPhase, SeedPhase
from raylaws.search._predict import INFORMED_TRIALS
from raylaws.search._plan import SweepPlanner
from raylaws.search._records import build_record, trial_config
from raylaws.search._schedule import Schedule
from raylaws.search._seeds import SeedCheck, check_seeds, decide_seeds, recorded_seed_counts
from raylaws.search._state import SizeState
from raylaws.search._studies import SizeStudies, journal_trials

__all__ = [
    "INFORMED_TRIALS",
    "Event",
    "EventLog",
    "Schedule",
    "SearchBox",
    "SearchPhase",
    "SeedCheck",
    "SeedPhase",
    "SizeState",
    "SizeStudies",
    "SweepPlanner",
    "build_record",
    "check_seeds",
    "decide_seeds",
    "journal_boxes",
    "journal_trials",
    "recorded_seed_counts",
    "search_trial_id",
    "size_budgets",
    "study_trial_id",
    "trial_config",
]
