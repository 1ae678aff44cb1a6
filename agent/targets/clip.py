"""open_clip models as image classifiers: images through the vision tower, prompts through the text tower.

Specs after `clip:` are `ARCH/PRETRAINED`, where PRETRAINED is an open_clip tag (`openai`,
`laion2b_s34b_b88k`), a local checkpoint path or `random` (random weights drawn with a fixed
seed, for tests and smoke runs). `TINY_ARCH` is a small ViT registered by this module so
that tests can encode a few hundred images in seconds on a CPU.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import pickle
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.data.images import to_rgb_image
from agent.errors import InputError, ModelUnavailableError
from agent.targets import ProgressCallback, Target, choose_device, normalize_rows

logger = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random"
RANDOM_SEED = 0
BATCH_SIZES = {"cpu": 32, "cuda": 256, "mps": 128}
TEXT_BATCH_SIZE = 256
TINY_ARCH = "agent-tiny-ViT"
CHECKPOINT_SUFFIXES = {".bin", ".pt", ".pth", ".safetensors"}
# Two-layer ViT with 8x8 patches on 32x32 images and a two-layer text tower: about 3.5M
# parameters, most of them the token embedding of the standard 49,408-token vocabulary.
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_config() -> None:
    """Add `TINY_ARCH` to open_clip's model registry (idempotent)."""
    import open_clip

    if TINY_ARCH in open_clip.list_models():
        return
    # open_clip registers configs from JSON files only; it keeps the parsed config after
    # the file is gone, so a temporary file is enough.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{TINY_ARCH}.json"
        path.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
        open_clip.add_model_config(path)


def precision_for(device: str) -> str:
    """Half precision on GPUs, where it halves memory and time; full precision on CPUs."""
    # NOTE: fp16 on MPS follows the same rule but has not been run in this project's tests.
    return "fp32" if device.split(":")[0] == "cpu" else "fp16"


class OpenClipTarget(Target):
    """An open_clip model: `pretrained` is a tag, a checkpoint path or None for random weights."""

    modality = "image"

    def __init__(self, arch: str, pretrained: str | None, *, device: str | None = None, batch_size: int | None = None) -> None:
        self.arch = arch
        self.pretrained = pretrained
        self.requested_device = device
        self.batch_size = batch_size
        self.checkpoint: Path | None = None
        self._check_names()
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._device: str | None = None
        self._checkpoint_digest: str | None = None

    @classmethod
    def from_spec(cls, name: str, device: str | None = None) -> "OpenClipTarget":
        """Build a target from `ARCH/PRETRAINED` (`ARCH/random` gives random weights)."""
        arch, _, pretrained = name.partition("/")
        if not arch or not pretrained:
            raise InputError(
                f"invalid target clip:{name}; use clip:ARCH/PRETRAINED such as clip:ViT-B-32/openai, "
                "clip:ARCH/path/to/checkpoint.pt or clip:ARCH/random"
            )
        return cls(arch, None if pretrained == RANDOM_WEIGHTS else pretrained, device=device)

    def _check_names(self) -> None:
        """Reject unknown architectures and tags before any download or model build."""
        import open_clip

        if self.arch == TINY_ARCH:
            register_tiny_config()
        models = open_clip.list_models()
        if self.arch not in models:
            close = difflib.get_close_matches(self.arch, models, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else "run open_clip.list_models() for the list"
            raise InputError(f"unknown open_clip architecture {self.arch!r}; {hint}")
        if self.pretrained is None or open_clip.get_pretrained_cfg(self.arch, self.pretrained):
            return
        path = Path(self.pretrained).expanduser()
        if not path.is_file() and Path("/" + self.pretrained).is_file():
            # clip:ARCH/abs/path.pt loses the path's leading slash to the ARCH/ separator.
            path = Path("/" + self.pretrained)
        if path.is_file():
            self.checkpoint = path
            return
        if "/" in self.pretrained or path.suffix in CHECKPOINT_SUFFIXES:
            raise InputError(
                f"open_clip checkpoint file not found: {path}; pass an existing file as clip:{self.arch}/path/to/file.pt"
            )
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(self.arch)) or "none"
        raise InputError(
            f"open_clip weights {self.pretrained!r} for {self.arch} are neither a known tag (tags: {tags}) "
            f"nor an existing checkpoint file; pass clip:{self.arch}/TAG, clip:{self.arch}/path/to/file.pt "
            f"or clip:{self.arch}/random"
        )

    @property
    def id(self) -> str:
        if self.pretrained is None:
            return f"clip:{self.arch}/{RANDOM_WEIGHTS}"
        if self.checkpoint is None:
            return f"clip:{self.arch}/{self.pretrained}"
        # A path alone does not name the weights: the file may be replaced or moved.
        if self._checkpoint_digest is None:
            self._checkpoint_digest = _file_digest(self.checkpoint)
        return f"clip:{self.arch}/{self.checkpoint.name}@sha256:{self._checkpoint_digest[:16]}"

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = choose_device(self.requested_device)
        return self._device

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().item())

    @property
    def model(self) -> Any:
        if self._model is None:
            self._load()
        return self._model

    def _load(self) -> None:
        import open_clip
        import torch

        if self.pretrained is not None and self.checkpoint is None:
            self._download_weights()
        precision = precision_for(self.device)
        weights = str(self.checkpoint) if self.checkpoint is not None else self.pretrained
        # Random weights come from a fixed seed so that the id names one set of weights
        # and cached features stay valid across processes.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            try:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    self.arch, pretrained=weights, precision=precision, device=self.device
                )
            except (RuntimeError, OSError, ValueError, KeyError, pickle.UnpicklingError) as error:
                raise ModelUnavailableError(self._load_failure(error)) from error
        model.eval()
        self._model, self._preprocess = model, preprocess
        self._tokenizer = open_clip.get_tokenizer(self.arch)
        logger.info("loaded open_clip %s on %s (%s)", self.id, self.device, precision)

    def _download_weights(self) -> None:
        """Fetch a tag's weights into open_clip's cache first, so a failure gives one clear error."""
        import open_clip

        config = open_clip.get_pretrained_cfg(self.arch, self.pretrained)
        try:
            open_clip.download_pretrained(config)
        except Exception as error:  # noqa: BLE001 - hub and urllib raise many unrelated types
            raise ModelUnavailableError(self._download_failure(error)) from error

    def _download_failure(self, error: BaseException) -> str:
        from huggingface_hub import constants

        first = _first_sentence(error)
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        return (
            f"open_clip weights {self.arch}/{self.pretrained} are not cached and could not be downloaded{offline} "
            f"({first}); connect to the internet once to cache them under {constants.HF_HUB_CACHE}, "
            f"or pass a local checkpoint as clip:{self.arch}/path/to/file.pt"
        )

    def _load_failure(self, error: BaseException) -> str:
        first = _first_sentence(error)
        weights = self.checkpoint or self.pretrained or RANDOM_WEIGHTS
        return (
            f"open_clip model {self.arch} with weights {weights} could not be built ({first}); "
            f"check that the checkpoint was saved from {self.arch}"
        )

    def encode_inputs(self, inputs: Sequence[Any], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed PIL images, image file paths or uint8 arrays (HxW, HxWxC, or a stacked NxHxW[xC] array)."""
        import torch

        model = self.model
        total = len(inputs)
        batch_size = self.batch_size or BATCH_SIZES.get(self.device.split(":")[0], 32)
        dtype = next(model.parameters()).dtype
        chunks = []
        for start in range(0, total, batch_size):
            items = inputs[start : start + batch_size]
            images = [to_rgb_image(item, start + offset) for offset, item in enumerate(items)]
            pixels = torch.stack([self._preprocess(image) for image in images]).to(self.device, dtype=dtype)
            with torch.inference_mode():
                features = model.encode_image(pixels)
            chunks.append(normalize_rows(features.float().cpu().numpy()))
            if progress is not None:
                progress(min(start + batch_size, total), total)
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = self.model
        texts = list(texts)
        chunks = []
        for start in range(0, len(texts), TEXT_BATCH_SIZE):
            tokens = self._tokenizer(texts[start : start + TEXT_BATCH_SIZE]).to(self.device)
            with torch.inference_mode():
                features = model.encode_text(tokens)
            chunks.append(normalize_rows(features.float().cpu().numpy()))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_sentence(error: BaseException) -> str:
    """Return the error's class and the first sentence of its message, for one-line errors."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    sentence = text.split(". ")[0].rstrip(".")
    return f"{error.__class__.__name__}: {sentence}" if sentence else error.__class__.__name__
