"""Datasets built from Python objects: lists of texts, PIL images, image paths or numpy arrays."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.data import Dataset
from agent.data.classes import check_class_names
from agent.errors import InputError
from agent.hashing import content_hash


def dataset_from_objects(
    inputs: Sequence[Any] | np.ndarray,
    class_names: Sequence[str],
    labels: Sequence[Any] | np.ndarray | None = None,
    description: str | None = None,
    name: str = "objects",
    modality: str | None = None,
) -> Dataset:
    """Wrap in-memory inputs as a Dataset.

    Strings are texts unless `modality="image"`, which reads them as image paths.
    `pathlib.Path` objects, PIL images and uint8 arrays are images. A numpy array of
    shape (N, H, W) or (N, H, W, C) is N images. Labels (class indices or class names)
    are used only to report accuracy.
    """
    names = check_class_names(list(class_names), "class_names")
    if isinstance(inputs, np.ndarray) and inputs.ndim == 1:
        inputs = inputs.tolist()
    if len(inputs) == 0:
        raise InputError("the dataset has no inputs; pass at least one text or image")
    modality = modality or _detect_modality(inputs)
    if modality not in ("text", "image"):
        raise InputError(f"invalid modality {modality!r}; use 'text' or 'image'")
    if modality == "text":
        items = _check_texts(inputs)
        inputs_hash = content_hash(items)
    else:
        items = inputs if isinstance(inputs, np.ndarray) else list(inputs)
        inputs_hash = image_inputs_hash(items)
    label_array = None
    if labels is not None:
        from agent.packs import label_indices

        label_array = label_indices(labels, names)
        if len(label_array) != len(items):
            raise InputError(f"got {len(label_array)} labels for {len(items)} inputs; pass one label per input")
    return Dataset(
        name=name, modality=modality, inputs=items, class_names=names, inputs_hash=inputs_hash,
        labels=label_array, description=(description or "").strip() or None, source=f"python:{name}",
    )


def _detect_modality(inputs: Sequence[Any] | np.ndarray) -> str:
    if isinstance(inputs, np.ndarray):
        if inputs.ndim in (3, 4):
            return "image"
        raise InputError(f"a numpy array of images must have shape (N, H, W) or (N, H, W, C), got {inputs.shape}")
    first = inputs[0]
    if isinstance(first, str):
        return "text"
    return "image"


def _check_texts(inputs: Sequence[Any]) -> list[str]:
    texts = list(inputs)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                f"input {position} is a {type(text).__name__}, but the first input is a text; "
                "pass only texts, or only images with modality='image'"
            )
    return texts


def image_inputs_hash(images: Sequence[Any] | np.ndarray) -> str:
    """Return `sha256:<hex>` over the content bytes of every image, so equal pixels hash alike."""
    digest = hashlib.sha256()
    for position, image in enumerate(images):
        digest.update(_image_bytes(image, position))
    return "sha256:" + digest.hexdigest()


def _image_bytes(image: Any, position: int) -> bytes:
    from PIL import Image

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InputError(f"image {position} must be a uint8 array of shape HxW or HxWxC, got {image.dtype} {image.shape}")
        return repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()
    if isinstance(image, Image.Image):
        return f"{image.mode}{image.size}".encode() + image.tobytes()
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"image file not found: {path} (input {position}); check the path")
        return path.read_bytes()
    raise InputError(
        f"input {position} is a {type(image).__name__}; pass texts, PIL images, image paths or uint8 numpy arrays"
    )
