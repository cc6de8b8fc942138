"""Per-size search: one Optuna study per rung, pruning within a rung, then K seeds of the best."""

from raylaws.search._plan import EVENTS_FILE, JOURNAL_FILE, SEARCH_SEED, Event, SizeProgress, SweepPlanner, TrialPlan

__all__ = ["EVENTS_FILE", "Event", "JOURNAL_FILE", "SEARCH_SEED", "SizeProgress", "SweepPlanner", "TrialPlan"]
