"""The seed re-runs of each size's chosen config: a count, or a rule that adds seeds where the noise is.

``seeds: 3`` re-runs every size's best config with seeds 1..3. ``seeds: {min: 2, max: 4,
until_se_below: 0.25}`` starts every size with seeds 1..2, then adds seeds in rounds: once every
size's seeds so far have finished, each size whose seed mean's standard error is above 0.25 times
the gap to its nearest neighbouring size's seed mean gets one more seed, up to 4
(:mod:`raylaws.search._seeds` decides).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from raylaws.spec._base import _Frozen

# The tags of the two forms of ``seeds`` in pydantic's error locations; not field names, so
# ``_load`` drops them from the dotted field it names (``seeds.max``, not ``seeds.<rule>.max``).
COUNT_TAG, RULE_TAG = "<count>", "<rule>"
RULE_EXAMPLE = "{min: 2, max: 4, until_se_below: 0.25}"


class SeedsSpec(_Frozen):
    """Seeds added where a size's seed mean is too uncertain against the gap to its neighbours.

    Every size starts with seeds 1..``min``. Then, in rounds (each once every size's seeds so
    far have finished, so the decision never depends on which trial finished first), a size
    whose seed-mean standard error (sample std / sqrt(completed seeds); unknown, so too large,
    below 2 completed seeds) is above ``until_se_below`` times the gap to its nearest
    neighbouring size's seed mean (the smaller of the two gaps; the smallest and largest sizes
    have one neighbour) gets one more seed, up to ``max``. The fit and every view use all seeds.
    """

    min: int = Field(2, le=1000)  # a standard error needs 2 seeds
    max: int = Field(le=1000)  # the cap: a size costs at most its search plus max seed re-runs
    until_se_below: float  # a fraction of the gap to the nearest size's seed mean, in (0, 1]

    @field_validator("min")
    @classmethod
    def _two_to_start(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"a seed mean's standard error needs 2 seeds (got {value}): set seeds.min to 2 or "
                             "more, or give seeds as a count (seeds: 1)")
        return value

    @field_validator("until_se_below")
    @classmethod
    def _a_fraction(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"a fraction of the gap to the nearest size's seed mean, above 0 and at most 1 "
                             f"(got {value}); 0.25 stops once a size's mean is known to a quarter of that gap")
        return value

    @model_validator(mode="after")
    def _cap_above_start(self) -> "SeedsSpec":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min}): raise seeds.max to {self.min} or more, "
                             f"or lower seeds.min")
        return self


def _count(value: Any) -> Any:
    """A count of seeds must be an int: say what else ``seeds`` may be."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an integer number of seed re-runs (e.g. 3) or a rule such as {RULE_EXAMPLE} (got {value!r})")
    return value


def _form(value: Any) -> str:
    return RULE_TAG if isinstance(value, (dict, SeedsSpec)) else COUNT_TAG


# ``seeds``: a count (the hash of a spec with a count is what it always was), or a rule.
Seeds = Annotated[
    Union[Annotated[int, BeforeValidator(_count), Field(ge=0, le=1000), Tag(COUNT_TAG)],
          Annotated[SeedsSpec, Tag(RULE_TAG)]],
    Discriminator(_form),
]


__all__ = ["COUNT_TAG", "RULE_TAG", "Seeds", "SeedsSpec"]
