"""The metrics of a finetuning task: accuracy, F1 and MCC (higher is better; 1 is perfect)."""

from __future__ import annotations

import numpy as np


def score(metric: str, labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """``accuracy``; ``f1`` (binary: of class 1; more classes: macro average); ``mcc``
    (Matthews correlation; more classes: Gorodkin's R_K). Higher is better; 1 is perfect."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        return 0.0
    if metric == "accuracy":
        return float(np.mean(labels == predictions))
    confusion = np.zeros((n_classes, n_classes), dtype=np.float64)  # [true, predicted]
    np.add.at(confusion, (labels, predictions), 1.0)
    if metric == "f1":
        classes = [1] if n_classes == 2 else range(n_classes)
        f1s = []
        for k in classes:
            tp, predicted, actual = confusion[k, k], confusion[:, k].sum(), confusion[k, :].sum()
            f1s.append(0.0 if predicted + actual == 0 else 2 * tp / (predicted + actual))
        return float(np.mean(f1s))
    if metric == "mcc":
        total, correct = confusion.sum(), np.trace(confusion)
        predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
        numerator = correct * total - predicted @ actual
        denominator = np.sqrt(total**2 - predicted @ predicted) * np.sqrt(total**2 - actual @ actual)
        return float(numerator / denominator) if denominator > 0 else 0.0
    raise ValueError(f"unknown metric {metric!r}; use accuracy, f1 or mcc")


__all__ = ["score"]
