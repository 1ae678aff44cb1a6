"""Text datasets from CSV, TSV and JSONL files."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

from agent.data import Dataset
from agent.data.classes import check_class_names, labels_to_indices
from agent.errors import InputError
from agent.hashing import content_hash

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}
# A cell larger than the csv module's default limit (128 KiB) is legal in real corpora.
csv.field_size_limit(16 * 1024 * 1024)


def load_text_file(
    path: Path,
    class_names: tuple[str, ...] | None,
    text_column: str,
    label_column: str | None,
) -> Dataset:
    """Read texts and optional labels from `path` and check them against the class names."""
    rows, columns = _read_rows(path)
    if text_column not in columns:
        raise InputError(
            f"column {text_column!r} not found in {path} (columns: {', '.join(columns)}); "
            "pass --text-column NAME"
        )
    if label_column is not None and label_column not in columns:
        raise InputError(
            f"label column {label_column!r} not found in {path} (columns: {', '.join(columns)}); "
            "pass --label-column NAME or leave it out"
        )
    if label_column is None and "label" in columns:
        label_column = "label"
    texts, label_values, row_numbers = _collect(rows, path, text_column, label_column)
    if class_names is None:
        if label_values is None:
            raise InputError(
                f"{path} has no label column, so class names cannot be inferred; "
                "pass --classes a,b,c or --classes-file FILE"
            )
        class_names = check_class_names(sorted(set(label_values)), f"the label column of {path}")
    labels = None
    if label_values is not None:
        labels = labels_to_indices(label_values, class_names, str(path), row_numbers)
    return Dataset(
        name=path.stem if path.stem not in {"test", "train", "dev"} else f"{path.parent.name}-{path.stem}",
        modality="text",
        inputs=texts,
        class_names=class_names,
        inputs_hash=content_hash(texts),
        labels=labels,
        source=str(path),
    )


def _read_rows(path: Path) -> tuple[list[dict], list[str]]:
    if not path.exists():
        raise InputError(f"dataset file not found: {path}; pass a CSV, TSV or JSONL file, a folder or 'demo'")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise InputError(
            f"unsupported dataset file type {suffix or '(none)'!r} for {path}; "
            "use .csv, .tsv or .jsonl for texts, .npz or a folder for images"
        )
    text = _decode(path)
    if not text.strip():
        raise InputError(f"dataset file {path} is empty; it needs a header and at least one row")
    if TEXT_SUFFIXES[suffix] is None:
        return _read_jsonl(text, path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=TEXT_SUFFIXES[suffix])
    columns = list(reader.fieldnames or [])
    try:
        rows = list(reader)
    except csv.Error as error:
        raise InputError(f"{path} is not valid {suffix[1:].upper()} near line {reader.line_num}: {error}") from error
    if not rows:
        raise InputError(f"dataset file {path} has a header but no rows")
    return rows, columns


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"line {line} of {path} is not valid UTF-8 (byte {data[error.start]:#04x} at offset {error.start}); "
            "re-save the file as UTF-8"
        ) from error


def _read_jsonl(text: str, path: Path) -> tuple[list[dict], list[str]]:
    rows, columns = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number} of {path} is not valid JSON: {error.msg}") from error
        if not isinstance(row, dict):
            raise InputError(f"line {number} of {path} is a JSON {type(row).__name__}, not an object")
        rows.append(row)
        columns.update(dict.fromkeys(row))
    return rows, list(columns)


def _collect(
    rows: list[dict], path: Path, text_column: str, label_column: str | None
) -> tuple[list[str], list[str] | None, list[int]]:
    """Return texts, label values and the file row (or line) number of each kept row."""
    texts: list[str] = []
    row_numbers: list[int] = []
    labels: list[str] | None = [] if label_column else None
    skipped = 0
    for number, row in enumerate(rows, start=2):
        value = row.get(text_column)
        if value is None or (isinstance(value, str) and not value.strip()):
            skipped += 1
            continue
        if not isinstance(value, str):
            raise InputError(f"row {number} of {path}: {text_column!r} is {value!r}, not a string")
        texts.append(value)
        row_numbers.append(number)
        if labels is not None:
            label = row.get(label_column)
            label = "" if label is None else str(label).strip()
            if not label:
                raise InputError(
                    f"row {number} of {path} has an empty {label_column!r}; fill it in, remove the row, "
                    "or check the row for an unclosed quote"
                )
            labels.append(label)
    if skipped:
        logger.warning("skipped %d rows of %s with an empty %r", skipped, path, text_column)
    if not texts:
        raise InputError(f"dataset file {path} has no non-empty values in column {text_column!r}")
    return texts, labels, row_numbers
