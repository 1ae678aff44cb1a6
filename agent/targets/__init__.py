"""Targets: the frozen encoders whose zero-shot classifier is being optimized.

A target spec is `st:MODEL` (sentence-transformers, for texts) or `clip:ARCH/PRETRAINED`
(open_clip, for images). Each target returns L2-normalised float32 rows.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Sequence

import numpy as np

from agent.errors import InputError

ProgressCallback = Callable[[int, int], None]
"""Called as progress(done, total) while inputs are encoded."""

DEFAULT_TEXT_TARGET = "st:all-MiniLM-L6-v2"
DEFAULT_IMAGE_TARGET = "clip:ViT-B-32/openai"


class Target(abc.ABC):
    """A frozen encoder that embeds inputs and prompt texts into one space."""

    modality: str

    @property
    @abc.abstractmethod
    def id(self) -> str:
        """Stable identifier of the model and its weights, used in cache keys."""

    @abc.abstractmethod
    def encode_inputs(self, inputs: Sequence[Any], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed the dataset inputs; returns an (N, D) float32 array of unit rows."""

    @abc.abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed prompt texts; returns an (N, D) float32 array of unit rows."""

    @property
    def logit_scale(self) -> float:
        """The factor that turns cosine similarities into logits for softmax-based scores."""
        return 100.0


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale every row to unit L2 norm (zero rows stay zero) and return float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def choose_device(requested: str | None) -> str:
    """Return `requested` after checking it is available, or the first of cuda, mps and cpu."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available()), "cpu": True}
    if requested is None:
        return next(name for name, present in available.items() if present)
    try:
        kind = torch.device(requested).type
    except RuntimeError as error:
        raise InputError(f"invalid --device {requested!r}; use cuda, cuda:N, mps or cpu") from error
    if not available.get(kind, False):
        present = ", ".join(name for name, ok in available.items() if ok)
        raise InputError(f"--device {requested} is not available on this machine (available: {present}); pass one of those")
    return requested


def resolve_target(spec: str | Target | None, modality: str, device: str | None = None) -> Target:
    """Build the target named by `spec`, or the default for the dataset's modality."""
    if isinstance(spec, Target):
        return spec
    if device is not None:
        choose_device(device)
    if spec is None:
        spec = DEFAULT_TEXT_TARGET if modality == "text" else DEFAULT_IMAGE_TARGET
    family, _, name = spec.partition(":")
    if not name:
        raise InputError(f"invalid target {spec!r}; use st:MODEL for texts or clip:ARCH/PRETRAINED for images")
    if family == "st":
        if modality != "text":
            raise InputError(f"target {spec!r} encodes texts but the dataset holds images; use clip:ARCH/PRETRAINED")
        from agent.targets.sentence import SentenceTransformerTarget

        return SentenceTransformerTarget(name, device=device)
    if family == "clip":
        if modality != "image":
            raise InputError(f"target {spec!r} encodes images but the dataset holds texts; use st:MODEL")
        from agent.targets.clip import OpenClipTarget

        return OpenClipTarget.from_spec(name, device=device)
    raise InputError(f"unknown target family {family!r} in {spec!r}; use st:MODEL or clip:ARCH/PRETRAINED")
