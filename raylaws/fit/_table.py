"""`fit_table`: one law per group of any table of (x, y) rows, CSV, Parquet or Arrow.

For curves that did not come from a raylaws sweep: x is whatever the scale is (N, tokens,
compute), y the loss or error, one row per (size, seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raylaws.fit._power import Form, PowerLaw


@dataclass(frozen=True)
class GroupFit:
    """One group's fitted law.

    Attributes:
        group: The group's value as text (None when no group column was given).
        law: The fitted law; its `x_`, `y_` are the group's rows.
    """

    group: str | None
    law: PowerLaw


def read_table(path_or_table: str | Path | pa.Table) -> pa.Table:
    """Read a .csv or .parquet file (or pass an Arrow table through).

    Raises:
        ValueError: For another suffix or a missing file, naming the path.
    """
    if isinstance(path_or_table, pa.Table):
        return path_or_table
    path = Path(path_or_table)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def fit_table(
    path_or_table: str | Path | pa.Table,
    *,
    x: str,
    y: str,
    group: str | None = None,
    seed: str | None = None,
    form: Form = "power",
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
) -> list[GroupFit]:
    """Fit one law per group of a table's rows (rows with equal x in a group are its seeds).

    Args:
        path_or_table: A .csv or .parquet path, or a `pyarrow.Table`.
        x: Column of the scale (N non-embedding parameters, tokens, FLOPs...).
        y: Column of the loss or error, lower is better.
        group: Column whose values separate curves (one law each); None: one curve.
        seed: Column naming each row's seed; checked so that no (group, x, seed) repeats.
        form, n_bootstrap, random_state: As for `PowerLaw`.

    Returns:
        One `GroupFit` per group, in order of first appearance.

    Raises:
        ValueError: Naming the column for a missing column, nulls, repeated seeds, and as
            `PowerLaw.fit` (naming the x column) for bad values.
    """
    table = read_table(path_or_table)
    for role, column in (("x", x), ("y", y), ("group", group), ("seed", seed)):
        if column is not None and column not in table.column_names:
            raise ValueError(
                f"{role}: no column {column!r}; the table has {', '.join(table.column_names)}"
            )
    for column in (x, y):
        if table[column].null_count:
            raise ValueError(f"{column}: {table[column].null_count} empty value(s)")
        if not pa.types.is_integer(table[column].type) and not pa.types.is_floating(
            table[column].type
        ):
            raise ValueError(f"{column}: expected numbers, got {table[column].type}")
    groups = (
        [None] * table.num_rows
        if group is None
        else pc.cast(table[group], pa.string()).to_pylist()
    )
    x_values = table[x].to_numpy(zero_copy_only=False).astype(np.float64)
    y_values = table[y].to_numpy(zero_copy_only=False).astype(np.float64)
    labels = np.array(["" if g is None else g for g in groups], dtype=object)
    if seed is not None:
        seen: set[tuple[object, float, object]] = set()
        for key in zip(groups, x_values.tolist(), table[seed].to_pylist()):
            if key in seen:
                raise ValueError(
                    f"{seed}: seed {key[2]!r} appears twice at {x}={key[1]:g}"
                    + (f" in {group}={key[0]!r}" if group is not None else "")
                )
            seen.add(key)
    fits = []
    for label in dict.fromkeys(labels.tolist()):
        rows = labels == label
        law = PowerLaw(form, n_bootstrap=n_bootstrap, random_state=random_state, x_name=x)
        try:
            law.fit(x_values[rows], y_values[rows])
        except ValueError as error:
            where = f"{group}={label!r}: " if group is not None else ""
            raise ValueError(f"{where}{error}") from None
        fits.append(GroupFit(None if group is None else label, law))
    return fits
