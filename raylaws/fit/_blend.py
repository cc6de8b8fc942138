"""`form="auto"`'s law: a weighted average, in ln y, of several forms fitted to the same rows.

The members share the data and the bootstrap resamples, so replicate b of the blend is the
weighted average of every member's replicate b (paired, as `compare` needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raylaws.fit._forms import LawForm


@dataclass(frozen=True)
class Blend:
    """Log-space predictions of a weighted average of forms; theta is the members' thetas
    concatenated in order.

    Attributes:
        forms: The members.
        weights: (len(forms),) weights summing to 1.
    """

    forms: tuple[LawForm, ...]
    weights: tuple[float, ...]

    @property
    def slices(self) -> list[slice]:
        """Where each member's theta lies in the blend's."""
        ends = np.cumsum([form.n_coefficients for form in self.forms])
        return [slice(int(end) - form.n_coefficients, int(end)) for end, form in zip(ends, self.forms)]

    def log_predict_many(self, thetas: np.ndarray, ln_x: np.ndarray) -> np.ndarray:
        """(B, n) predictions of ln y for (B, sum k) thetas at (1, n) log inputs."""
        return sum(  # type: ignore[return-value]
            weight * form.model.log_predict_many(thetas[:, part], ln_x)
            for weight, form, part in zip(self.weights, self.forms, self.slices)
        )
