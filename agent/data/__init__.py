"""Datasets: inputs, class names in order, optional labels, optional task description.

Labels are kept on the dataset only so that `agent.evaluate` can report accuracy. Nothing
that proposes, scores or selects candidates reads them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from agent.data.classes import resolve_class_names
from agent.errors import InputError

logger = logging.getLogger(__name__)

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class Dataset:
    """Unlabelled inputs to classify, their class names and, for evaluation only, labels."""

    name: str
    modality: Modality
    inputs: Sequence[Any]
    class_names: tuple[str, ...]
    inputs_hash: str
    labels: np.ndarray | None = field(default=None, repr=False)
    description: str | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def subset(self, max_inputs: int | None, seed: int) -> "Dataset":
        """Return a seeded random subset of at most `max_inputs` inputs, in original order."""
        if max_inputs is None or max_inputs >= len(self.inputs):
            return self
        if max_inputs < 1:
            raise InputError(f"--max-inputs must be at least 1, got {max_inputs}")
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(self.inputs), size=max_inputs, replace=False))
        inputs = _take(self.inputs, keep)
        labels = None if self.labels is None else self.labels[keep]
        from agent.hashing import content_hash

        inputs_hash = content_hash([self.inputs_hash, "subset", keep.tolist()])
        return replace(self, inputs=inputs, labels=labels, inputs_hash=inputs_hash)


def _take(inputs: Sequence[Any], keep: np.ndarray) -> Sequence[Any]:
    if isinstance(inputs, np.ndarray):
        return inputs[keep]
    return [inputs[i] for i in keep]


def load_dataset(
    spec: str | Path,
    *,
    classes: Sequence[str] | None = None,
    classes_file: str | Path | None = None,
    text_column: str = "text",
    label_column: str | None = None,
    description: str | None = None,
    max_inputs: int | None = None,
    seed: int = 0,
    strict: bool = False,
) -> Dataset:
    """Load a dataset from a file, a folder or a built-in name and check it.

    `spec` is `demo`, a CSV, TSV or JSONL file of texts, or an image source (a class-per-
    subfolder folder, a flat folder of images, an `.npz` file, `digits` or
    `torchvision:NAME`). Class names come from `classes`, then `classes_file`, then the
    distinct label values. `max_inputs` keeps a random subset drawn with `seed`.
    """
    class_list = resolve_class_names(classes, classes_file)
    text = str(spec)
    if text == "demo":
        from agent.data.demo import demo_dataset

        dataset = demo_dataset(class_list)
    elif _is_image_spec(text):
        from agent.data.images import load_image_dataset

        dataset = load_image_dataset(text, class_list, strict=strict)
    else:
        from agent.data.text import load_text_file

        dataset = load_text_file(Path(text), class_list, text_column, label_column)
    if description is not None:
        dataset = replace(dataset, description=description.strip() or None)
    return dataset.subset(max_inputs, seed)


def _is_image_spec(spec: str) -> bool:
    if spec == "digits" or spec.startswith("torchvision:"):
        return True
    path = Path(spec)
    return path.suffix.lower() == ".npz" or path.is_dir()


__all__ = ["Dataset", "load_dataset", "resolve_class_names"]
