"""The base of every spec model (frozen, typed configuration loaded from ``search_spaces/*.yaml``).

Every model forbids unknown keys, so a typo is an error (with a did-you-mean, see
``_load.py``) rather than a silently ignored setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    # strict: `seeds: true` or `max_steps: "10"` are errors, not 1 and 10; floats must be finite.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
