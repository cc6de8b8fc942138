"""Shared estimator plumbing: scikit-learn style parameters, cloning and fitted-state checks."""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from raylaws.fit import _validate
from raylaws.fit._bootstrap import percentile_interval

_EstimatorT = TypeVar("_EstimatorT", bound="BaseLaw")


class NotFittedError(ValueError, AttributeError):
    """Raised when a law is used before `fit`, or asked for intervals it has no bootstrap for.

    Subclasses both `ValueError` and `AttributeError`, as scikit-learn's error of the same name
    does, so code written against either convention catches it.
    """


class BaseLaw:
    """Hyperparameter handling shared by the laws.

    A subclass's `__init__` stores each argument under its own name and does nothing else, so
    `get_params` can read them back and `clone` can rebuild an unfitted copy.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments this law was built with.

        Returns:
            A dict from argument name to value; `type(law)(**law.get_params())` is an unfitted
            copy.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(...) before using it"
            )

    def _check_bootstrapped(self, what: str) -> None:
        self._check_fitted()
        if self.bootstrap_params_.shape[0] == 0:  # type: ignore[attr-defined]
            raise NotFittedError(
                f"{what} needs bootstrap replicates, but this {type(self).__name__} was fitted "
                "with n_bootstrap=0; refit with n_bootstrap > 0 (the paper uses 1000)"
            )

    def confidence_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals of the parameters.

        Args:
            level: Coverage, e.g. 0.95 for the [2.5, 97.5] percentiles.

        Returns:
            (lo, hi) by parameter name, keyed like `params_`.
        """
        level = _validate.level(level)
        self._check_bootstrapped("confidence_intervals")
        lo, hi = percentile_interval(self.bootstrap_params_, level)
        return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(self.params_)}


def clone(law: _EstimatorT) -> _EstimatorT:
    """Return an unfitted law with the same constructor arguments (scikit-learn's `clone`).

    Args:
        law: A law, fitted or not.

    Returns:
        A new instance of the same class built from `law.get_params()`. A `random_state` that is
        an int is reused as is, so the clone draws the same bootstrap resamples for the same data.
    """
    return type(law)(**law.get_params())
