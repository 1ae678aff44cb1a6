"""Prompt packs: the exported result of a run, usable without the history database.

A pack is a JSON file (format described in docs/packs.md, JSON Schema in
`agent/pack_schema.json`). `load_pack` validates one and returns a `Pack`, which builds
the zero-shot classifier head for an open_clip or sentence-transformers model and
classifies inputs with it. The exporters write the same prompts for other tools.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from agent.candidates import Candidate, candidate_from_text
from agent.errors import InputError
from agent.evaluate import Evaluation, evaluate_classifier

FORMAT = "agent-prompt-pack"
FORMAT_VERSION = 1
EXPORT_FORMATS = ("pack", "clip-benchmark", "csv")
ENCODE_BATCH_SIZE = 64

Encoder = Callable[[Sequence[Any]], np.ndarray]


def build_pack(
    *,
    target_id: str,
    modality: str,
    class_names: Sequence[str],
    members: Sequence[tuple[Candidate, float, float]],
    fitness_name: str,
    fitness_value: float,
    evaluation: dict[str, Any] | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Assemble a pack from ensemble members given as (candidate, weight, fitness).

    `class_prompts` repeats each member's prompts by its integer weight, so the mean of
    the unit embeddings of a class's listed prompts is exactly the run's class embedding.
    """
    class_prompts: dict[str, list[str]] = {name: [] for name in class_names}
    templates, variants, descriptions = [], {name: [] for name in class_names}, {name: [] for name in class_names}
    for candidate, weight, _ in members:
        repeats = int(round(weight))
        for name, prompts in zip(class_names, candidate.prompts(class_names)):
            class_prompts[name].extend(prompts * repeats)
        if candidate.kind == "template":
            templates.append(candidate.payload)
        elif candidate.kind == "names":
            for name in class_names:
                variants[name].append(candidate.payload[name])
        else:
            for name in class_names:
                descriptions[name].extend(candidate.payload[name])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "target": target_id,
        "modality": modality,
        "class_names": list(class_names),
        "class_prompts": class_prompts,
        "templates": templates,
        "class_name_variants": variants,
        "descriptions": descriptions,
        "members": [
            {"kind": c.kind, "text": c.text, "weight": w, "fitness": f} for c, w, f in members
        ],
        "fitness": {"name": fitness_name, "value": fitness_value},
        "evaluation": evaluation,
        "provenance": {**provenance, "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def write_pack(pack: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def pack_from_store(store, run: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the pack of a finished or interrupted run from its latest ensemble in `store`.

    Raises InputError when the run has no ensemble yet (it stopped before step 0 ended).
    """
    ensembles = store.ensembles(run["id"])
    if not ensembles:
        raise InputError(f"run {run['name']!r} has no scored ensemble yet; resume it with --run {run['name']} --resume")
    latest = ensembles[-1]
    rows = {row["id"]: row for row in store.candidates(run["id"])}
    members = []
    for candidate_id, weight in zip(latest["members"], latest["weights"]):
        row = rows[candidate_id]
        members.append((candidate_from_text(row["kind"], row["text"]), weight, row["fitness"]))
    evaluations = {}
    for row in store.evaluations(run["id"]):
        # A resumed run stores its evaluations again; the latest ones describe the pack.
        evaluations[row["name"]] = {key: row[key] for key in ("name", "accuracy", "balanced_accuracy", "per_class_recall", "inputs")}
    inputs = next(iter(evaluations.values()))["inputs"] if evaluations else None
    return build_pack(
        target_id=run["target_id"], modality=run["modality"], class_names=run["class_names"],
        members=members, fitness_name=run["fitness_name"], fitness_value=latest["fitness"],
        evaluation=evaluations or None,
        provenance={
            "run_id": run["id"], "run_name": run["name"], "seed": run["seed"], "llm": run["llm_id"],
            "dataset": run["dataset"], "dataset_hash": run["dataset_hash"], "inputs": inputs,
            "tool_version": run["tool_version"], "created_at": run["created_at"], "finished_at": run["finished_at"],
        },
    )


# Validation


@lru_cache(maxsize=1)
def pack_schema() -> dict[str, Any]:
    """Return the JSON Schema of the current pack format, shipped as `agent/pack_schema.json`."""
    return json.loads(resources.files("agent").joinpath("pack_schema.json").read_text(encoding="utf-8"))


def validate_pack(data: Any, source: str = "the pack") -> None:
    """Raise InputError naming the first problem of `data`: format, schema or class lists."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{source} is not a prompt pack (expected \"format\": \"{FORMAT}\"); export one with `optimize export RUN`")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise InputError(
            f"{source} has pack format version {version!r}, but this tool reads version {FORMAT_VERSION}; "
            "upgrade the tool (pip install -U agent) or export the pack again"
        )
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(pack_schema()).iter_errors(data))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise InputError(f"{source} is invalid at {where}: {error.message}; export the pack again or fix that field")
    _check_classes(data, source)


def _check_classes(data: dict[str, Any], source: str) -> None:
    """Reject duplicated class names and per-class fields that miss, add or reorder classes."""
    names = data["class_names"]
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"class name {name!r} appears twice in class_names of {source}; class names must be unique")
        seen.add(name)
    for field in ("class_prompts", "class_name_variants", "descriptions"):
        keys = list(data[field])
        if field != "class_prompts" and not keys:
            continue
        missing = [name for name in names if name not in data[field]]
        if missing:
            raise InputError(f"{field} of {source} has no entry for class {missing[0]!r}; add it or export the pack again")
        extra = [key for key in keys if key not in seen]
        if extra:
            raise InputError(f"{field} of {source} has an entry for {extra[0]!r}, which is not in class_names")
        for position, (key, name) in enumerate(zip(keys, names), start=1):
            if key != name:
                raise InputError(
                    f"{field} of {source} lists class {key!r} at position {position} where class_names has {name!r}; "
                    "order the entries as class_names"
                )


def load_pack(path: str | Path) -> "Pack":
    """Read and validate a pack file; the history database is not needed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pack file not found: {path}; export one with `optimize export RUN -o {path.name}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"pack file {path} is not valid JSON: {error.msg} at line {error.lineno}") from error
    validate_pack(data, str(path))
    return Pack(data)


# Using a pack


@dataclass(frozen=True, repr=False)
class Pack:
    """A validated prompt pack; builds classifier heads and classifies inputs with them."""

    data: Mapping[str, Any]

    def __repr__(self) -> str:
        prompts = sum(len(p) for p in self.data["class_prompts"].values())
        return f"Pack(target={self.target!r}, classes={len(self.class_names)}, prompts={prompts}, fitness={self.fitness['value']:.4f})"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the pack") -> "Pack":
        validate_pack(data, source)
        return cls(data)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.data["class_names"])

    @property
    def class_prompts(self) -> dict[str, list[str]]:
        return {name: list(self.data["class_prompts"][name]) for name in self.class_names}

    @property
    def target(self) -> str:
        return self.data["target"]

    @property
    def modality(self) -> str:
        return self.data["modality"]

    @property
    def fitness(self) -> dict[str, Any]:
        return dict(self.data["fitness"])

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return self.data["evaluation"]

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self.data["provenance"])

    def class_embeddings(self, model: Any = None, tokenizer: Any = None, device: str | None = None) -> np.ndarray:
        """Return the (C, D) head: per class, the normalised mean of its prompts' unit embeddings.

        `model` is an open_clip model (pass its `tokenizer` too), a sentence-transformers
        model, an `agent.targets.Target`, a target spec such as `st:all-MiniLM-L6-v2`, or
        None for the pack's own target.
        """
        encode = text_encoder(_resolve_model(model, self), tokenizer, device)
        flat = [prompt for name in self.class_names for prompt in self.data["class_prompts"][name]]
        vectors = np.asarray(encode(flat), dtype=np.float64)
        rows, start = [], 0
        for name in self.class_names:
            count = len(self.data["class_prompts"][name])
            rows.append(vectors[start : start + count].mean(axis=0))
            start += count
        matrix = np.stack(rows)
        return (matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def classifier(
        self, model: Any = None, tokenizer: Any = None, preprocess: Any = None, device: str | None = None
    ) -> "PackClassifier":
        """Build the head for `model` once and return a classifier that reuses it."""
        resolved = _resolve_model(model, self)
        return PackClassifier(
            class_names=self.class_names,
            class_embeddings=self.class_embeddings(resolved, tokenizer, device),
            encode_inputs=input_encoder(resolved, preprocess, device),
        )

    def classify(self, inputs: Sequence[Any], model: Any = None, tokenizer: Any = None,
                 preprocess: Any = None, device: str | None = None) -> list[str]:
        """Return the predicted class name of every input (texts, or images for open_clip)."""
        return self.classifier(model, tokenizer, preprocess, device).predict_names(inputs)

    def evaluate(self, inputs: Sequence[Any], labels: Sequence[Any], model: Any = None, tokenizer: Any = None,
                 preprocess: Any = None, device: str | None = None) -> Evaluation:
        """Score the pack against labels given as class indices or class names."""
        head = self.classifier(model, tokenizer, preprocess, device)
        return head.evaluate(head.encode_inputs(inputs), labels)

    def evaluate_dataset(self, dataset, model: Any = None, device: str | None = None) -> Evaluation:
        """Score the pack on a labelled `agent.data.Dataset` whose classes match the pack's."""
        if dataset.labels is None:
            raise InputError(f"dataset {dataset.name!r} has no labels, so accuracy cannot be measured; pass a dataset with a label column")
        if dataset.modality != self.modality:
            raise InputError(f"the pack classifies {self.modality} inputs but dataset {dataset.name!r} contains {dataset.modality} inputs")
        if tuple(dataset.class_names) != self.class_names:
            raise InputError(
                f"dataset {dataset.name!r} has the classes {list(dataset.class_names)} but the pack has {list(self.class_names)}; "
                "load the dataset with the pack's class names in the pack's order"
            )
        head = self.classifier(model, device=device)
        return head.evaluate(head.encode_inputs(dataset.inputs), dataset.labels)

    def write(self, path: str | Path) -> Path:
        return write_pack(dict(self.data), path)


@dataclass(frozen=True)
class PackClassifier:
    """A built zero-shot head: unit class embeddings and the encoder of the inputs."""

    class_names: tuple[str, ...]
    class_embeddings: np.ndarray
    encode_inputs: Encoder

    def scores(self, inputs: Sequence[Any]) -> np.ndarray:
        """Return the (N, C) cosine similarities of the inputs to the classes."""
        return self.scores_from_features(self.encode_inputs(inputs))

    def scores_from_features(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float32) @ self.class_embeddings.T

    def predict(self, inputs: Sequence[Any]) -> np.ndarray:
        """Return the class index of every input; a single string or image counts as one input."""
        if isinstance(inputs, (str, bytes)) or hasattr(inputs, "getpixel"):
            inputs = [inputs]
        if len(inputs) == 0:
            return np.zeros(0, dtype=np.int64)
        return self.scores(inputs).argmax(axis=1)

    def predict_names(self, inputs: Sequence[Any]) -> list[str]:
        return [self.class_names[i] for i in self.predict(inputs)]

    def evaluate(self, features: np.ndarray, labels: Sequence[Any], name: str = "pack") -> Evaluation:
        """Accuracy, balanced accuracy and per-class recall on already encoded inputs."""
        indices = label_indices(labels, self.class_names)
        if len(indices) != len(features):
            raise InputError(f"got {len(indices)} labels for {len(features)} inputs; pass one label per input")
        return evaluate_classifier(name, np.asarray(features, dtype=np.float32), self.class_embeddings, indices, self.class_names)


def label_indices(labels: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    """Map labels given as class indices or class names to an int64 index array."""
    values = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in values):
        bad = [value for value in values if not 0 <= value < len(class_names)]
        if bad:
            raise InputError(f"label index {bad[0]} is out of range for {len(class_names)} classes; use 0 to {len(class_names) - 1}")
        return np.asarray(values, dtype=np.int64)
    from agent.data.classes import labels_to_indices

    return labels_to_indices([str(value) for value in values], class_names, "the labels")


# Encoders for the kinds of model a pack accepts


def _resolve_model(model: Any, pack: Pack) -> Any:
    """Turn None or a target spec into an `agent.targets.Target`; leave model objects as they are."""
    if model is None or isinstance(model, str):
        from agent.targets import resolve_target

        return resolve_target(model or pack.target, pack.modality)
    return model


def _model_kind(model: Any) -> str:
    from agent.targets import Target

    if isinstance(model, Target):
        return "target"
    if hasattr(model, "encode_text") and hasattr(model, "encode_image"):
        return "open_clip"
    if hasattr(model, "encode"):
        return "sentence-transformers"
    raise InputError(
        f"cannot build a classifier head for a {type(model).__name__}; pass an open_clip model with its tokenizer, "
        "a sentence-transformers model, an agent Target or a target spec such as st:all-MiniLM-L6-v2"
    )


def text_encoder(model: Any, tokenizer: Any = None, device: str | None = None) -> Encoder:
    """Return a function that embeds prompt texts into unit rows with `model`."""
    kind = _model_kind(model)
    if kind == "target":
        return model.encode_texts
    if kind == "sentence-transformers":
        return lambda texts: _sentence_transformer_encode(model, texts)
    if tokenizer is None:
        raise InputError("an open_clip model needs its tokenizer; pass tokenizer=open_clip.get_tokenizer(ARCH)")
    return lambda texts: _open_clip_encode(model, lambda batch: model.encode_text(tokenizer(batch).to(_device(model, device))), texts)


def input_encoder(model: Any, preprocess: Any = None, device: str | None = None) -> Encoder:
    """Return a function that embeds classifier inputs (texts or images) into unit rows."""
    kind = _model_kind(model)
    if kind == "target":
        return model.encode_inputs
    if kind == "sentence-transformers":
        return lambda texts: _sentence_transformer_encode(model, texts)
    if preprocess is None:
        raise InputError("classifying images with an open_clip model needs its preprocess transform; pass preprocess=")

    def encode_images(batch: Sequence[Any]) -> Any:
        import torch

        pixels = torch.stack([preprocess(to_pil_image(item)) for item in batch])
        return model.encode_image(pixels.to(_device(model, device)))

    return lambda images: _open_clip_encode(model, encode_images, images)


def _sentence_transformer_encode(model: Any, texts: Sequence[str]) -> np.ndarray:
    vectors = model.encode(list(texts), batch_size=ENCODE_BATCH_SIZE, convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _open_clip_encode(model: Any, encode_batch: Callable[[Sequence[Any]], Any], items: Sequence[Any]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    items = list(items) if not isinstance(items, np.ndarray) else items
    chunks = []
    with torch.no_grad():
        for start in range(0, len(items), ENCODE_BATCH_SIZE):
            vectors = encode_batch(items[start : start + ENCODE_BATCH_SIZE])
            chunks.append(F.normalize(vectors.float(), dim=-1).cpu().numpy())
    return np.concatenate(chunks).astype(np.float32)


def _device(model: Any, device: str | None) -> Any:
    if device is not None:
        return device
    parameter = next(iter(model.parameters()), None)
    return parameter.device if parameter is not None else "cpu"


def to_pil_image(item: Any) -> Any:
    """Convert a PIL image, an image file path or a uint8 array (HxW or HxWxC) to an RGB image."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as image:
            return image.convert("RGB")
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3):
            raise InputError(f"an image array must be uint8 with shape HxW or HxWxC, got {item.dtype} {item.shape}")
        array = item[:, :, 0] if item.ndim == 3 and item.shape[2] == 1 else item
        return Image.fromarray(array).convert("RGB")
    raise InputError(f"cannot read an image from a {type(item).__name__}; pass PIL images, file paths or uint8 arrays")


# Exports for other tools


def clip_benchmark_templates(pack: Pack, dataset_name: str) -> dict[str, dict[str, list[str]]]:
    """Return the pack as a CLIP_benchmark custom template file: {dataset: {class: [prompts]}}.

    CLIP_benchmark averages the unit embeddings of each class's list, so repeated prompts
    keep the ensemble weights.
    """
    return {dataset_name: pack.class_prompts}


def write_export(pack: Pack, path: str | Path, format: str, dataset_name: str | None = None) -> Path:
    """Write `pack` to `path` as one of EXPORT_FORMATS."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "pack":
        return pack.write(path)
    if format == "clip-benchmark":
        name = dataset_name or pack.provenance.get("dataset") or "dataset"
        text = json.dumps(clip_benchmark_templates(pack, name), indent=2, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path
    if format == "csv":
        return _write_csv(pack, path)
    raise InputError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")


def _write_csv(pack: Pack, path: Path) -> Path:
    """Write one row per distinct prompt of a class, with `count`, how often the class's list contains it."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["class_index", "class_name", "prompt", "count"])
        for index, name in enumerate(pack.class_names):
            counts: dict[str, int] = {}
            for prompt in pack.data["class_prompts"][name]:
                counts[prompt] = counts.get(prompt, 0) + 1
            for prompt, count in counts.items():
                writer.writerow([index, name, prompt, count])
    return path
