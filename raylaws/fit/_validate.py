"""Input checks for the fitters: every error names the argument and says what is wrong."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def positive_finite(name: str, values: ArrayLike, *, allow_scalar: bool = False) -> np.ndarray:
    """Return `values` as a float array after checking that every entry is finite and > 0.

    Args:
        name: The argument's name, used as the prefix of any error message.
        values: The values to check.
        allow_scalar: Accept a 0-d input (for `predict(n)` with one N). Fitting inputs must be
            1-D.

    Returns:
        A float64 array with the input's shape.

    Raises:
        ValueError: "<name>: <problem>" when the input is not numeric, has the wrong shape, is
            empty, or holds a non-finite or non-positive value.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, could not convert ({error})") from None
    if array.ndim != 1 and not (allow_scalar and array.ndim == 0):
        expected = "a scalar or 1-D array" if allow_scalar else "a 1-D array"
        raise ValueError(f"{name}: expected {expected}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: is empty")
    flat = array.reshape(-1)
    not_finite = np.flatnonzero(~np.isfinite(flat))
    if not_finite.size:
        index = int(not_finite[0])
        raise ValueError(
            f"{name}: must be finite; got {float(flat[index])!r} at index {index} "
            f"({not_finite.size} non-finite value(s) in all)"
        )
    not_positive = np.flatnonzero(flat <= 0)
    if not_positive.size:
        index = int(not_positive[0])
        raise ValueError(
            f"{name}: must be positive; got {float(flat[index])!r} at index {index} "
            f"({not_positive.size} non-positive value(s) in all)"
        )
    return array


def same_length(**arrays: np.ndarray) -> None:
    """Check that the named 1-D arrays have one length.

    Raises:
        ValueError: naming every argument and its length when they differ.
    """
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"{' and '.join(lengths)}: lengths differ ({detail})")


def enough_sizes(name: str, n_sizes: int, n_params: int, what: str) -> None:
    """Check that there are at least as many distinct sizes (or points) as free parameters.

    Raises:
        ValueError: "<name>: ..." saying how many there are and how many `what` needs.
    """
    if n_sizes < n_params:
        raise ValueError(
            f"{name}: {n_sizes} distinct value(s), but {what} has {n_params} parameters "
            f"and needs at least {n_params}"
        )


def level(value: float) -> float:
    """Check a confidence level is strictly between 0 and 1.

    Raises:
        ValueError: "level: ..." otherwise.
    """
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"level: must be strictly between 0 and 1, got {value!r}")
    return value


def n_bootstrap(value: object) -> int:
    """Check a bootstrap replicate count is an integer >= 0.

    Raises:
        ValueError: "n_bootstrap: ..." otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"n_bootstrap: must be an integer >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"n_bootstrap: must be >= 0, got {value!r}")
    return int(value)
