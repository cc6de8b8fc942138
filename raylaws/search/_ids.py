"""The stable ids of study trials: ``<size>.sNNN``, and ``<size>.<task>.sNNN`` for finetuning."""

from __future__ import annotations


def search_trial_id(size: str, number: int) -> str:
    """The stable id of search trial ``number`` of ``size``'s study."""
    return f"{size}.s{number:03d}"


def finetune_trial_id(size: str, task: str, number: int) -> str:
    """The stable id of finetuning search trial ``number`` of the (``size``, ``task``) study."""
    return f"{size}.{task}.s{number:03d}"


def study_trial_id(key: str, number: int) -> str:
    """The trial id of trial ``number`` of the study keyed ``key`` (``<size>`` or ``<size>/<task>``)."""
    size, _, task = key.partition("/")
    return finetune_trial_id(size, task, number) if task else search_trial_id(size, number)


__all__ = ["finetune_trial_id", "search_trial_id", "study_trial_id"]
