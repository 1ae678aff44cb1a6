"""Class-name lists: parsing, validation and mapping label values onto them."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from agent.errors import InputError


def resolve_class_names(
    classes: Sequence[str] | str | None, classes_file: str | Path | None
) -> tuple[str, ...] | None:
    """Return the checked class names from a list, a comma-separated string or a file."""
    if classes is not None and classes_file is not None:
        raise InputError("pass either --classes or --classes-file, not both")
    if classes is not None:
        names = classes.split(",") if isinstance(classes, str) else list(classes)
        return check_class_names(names, "--classes")
    if classes_file is not None:
        path = Path(classes_file)
        if not path.is_file():
            raise InputError(f"classes file not found: {path}; pass a text file with one class name per line")
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as error:
            raise InputError(f"classes file {path} is not valid UTF-8 ({error.reason} at byte {error.start}); re-save it as UTF-8") from error
        # Blank lines at the end of a file are common; blank lines inside it are errors.
        while lines and not lines[-1].strip():
            lines.pop()
        return check_class_names(lines, str(path))
    return None


def check_class_names(names: Sequence[str], source: str) -> tuple[str, ...]:
    """Strip names and reject empty, duplicated or too few of them, naming the culprit."""
    cleaned = []
    for position, name in enumerate(names, start=1):
        if not isinstance(name, str):
            raise InputError(f"class name at position {position} in {source} is {name!r}, not a string")
        stripped = name.strip()
        if not stripped:
            raise InputError(f"class name at position {position} in {source} is empty; remove it or give it a name")
        if stripped in cleaned:
            raise InputError(f"class name {stripped!r} appears twice in {source}; class names must be unique")
        cleaned.append(stripped)
    if len(cleaned) < 2:
        raise InputError(f"{source} gives {len(cleaned)} class name(s); a classifier needs at least 2")
    return tuple(cleaned)


def labels_to_indices(
    values: Sequence[str], class_names: Sequence[str], source: str, row_numbers: Sequence[int] | None = None
) -> np.ndarray:
    """Map label values to class indices; integer labels are taken as indices when no name matches.

    `row_numbers` are the rows a user sees in the file, for error messages.
    """
    index = {name: i for i, name in enumerate(class_names)}
    if values and not any(v in index for v in values) and all(_is_index(v, len(class_names)) for v in values):
        return np.asarray([int(v) for v in values], dtype=np.int64)
    labels = np.empty(len(values), dtype=np.int64)
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(values) + 1))
    for position, value in enumerate(values):
        if value not in index:
            shown = ", ".join(class_names[:10]) + (", ..." if len(class_names) > 10 else "")
            raise InputError(
                f"label {value!r} in row {rows[position]} of {source} is not among the classes "
                f"({shown}); fix the label or add it to the class list"
            )
        labels[position] = index[value]
    return labels


def _is_index(value: str, count: int) -> bool:
    return value.isdigit() and int(value) < count
