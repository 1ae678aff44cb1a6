"""Evaluation against labels: the only module that reads them.

It reports accuracy beside the baselines after a run. Nothing here feeds back into
proposing, scoring or selecting candidates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, balanced accuracy (mean per-class recall) and per-class recall of one classifier."""

    name: str
    accuracy: float
    balanced_accuracy: float
    per_class_recall: dict[str, float]
    inputs: int

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_classifier(
    name: str, features: np.ndarray, class_embeddings: np.ndarray, labels: np.ndarray, class_names
) -> Evaluation:
    """Score the zero-shot classifier `class_embeddings` on labelled features."""
    predictions = (features @ class_embeddings.T).argmax(axis=1)
    recalls = {}
    for index, class_name in enumerate(class_names):
        members = labels == index
        # Classes absent from the inputs have no recall; they are left out of the mean.
        if members.any():
            recalls[class_name] = float((predictions[members] == index).mean())
    return Evaluation(
        name=name,
        accuracy=float((predictions == labels).mean()),
        balanced_accuracy=float(np.mean(list(recalls.values()))),
        per_class_recall=recalls,
        inputs=int(len(labels)),
    )
