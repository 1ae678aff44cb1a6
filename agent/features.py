"""On-disk caches of embeddings: input features per (target, dataset) and prompts per string.

Input features are `.npy` files named by a hash of the target id and the dataset's input
hash. Prompt embeddings live in one SQLite file keyed by (target id, text hash), so a text
is encoded once per target across runs. Both caches are safe to delete.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np

from agent.data import Dataset
from agent.hashing import content_hash
from agent.targets import ProgressCallback, Target

logger = logging.getLogger(__name__)


class FeatureCache:
    """Embeddings cached under `<runs_dir>/cache`, with counters of what was really encoded."""

    def __init__(self, runs_dir: str | Path) -> None:
        self.root = Path(runs_dir) / "cache"
        self.root.mkdir(parents=True, exist_ok=True)
        self.encoded_inputs = 0
        self.encoded_texts = 0
        self._db = sqlite3.connect(self.root / "embeddings.db")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS text_embeddings ("
            "target_id TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL, "
            "PRIMARY KEY (target_id, text_hash))"
        )
        self._memory: dict[tuple[str, str], np.ndarray] = {}

    def close(self) -> None:
        self._db.close()

    def input_features(
        self, target: Target, dataset: Dataset, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Return the (N, D) input features, encoding them only on the first call."""
        key = content_hash([target.id, dataset.inputs_hash]).split(":")[1][:32]
        path = self.root / f"features-{key}.npy"
        if path.exists():
            features = np.load(path)
            if features.shape[0] == len(dataset):
                logger.info("loaded %d cached input features from %s", len(dataset), path)
                return features
            logger.warning("ignoring cached features %s with %d rows, expected %d", path, features.shape[0], len(dataset))
        if progress is not None:
            progress(0, len(dataset))
        features = target.encode_inputs(dataset.inputs, progress=progress)
        self.encoded_inputs += len(dataset)
        temporary = path.with_suffix(".tmp.npy")
        np.save(temporary, features)
        temporary.replace(path)
        return features

    def text_embeddings(self, target: Target, texts: Sequence[str]) -> np.ndarray:
        """Return (len(texts), D) unit embeddings, encoding only texts never seen for this target."""
        hashes = [content_hash(text) for text in texts]
        missing = self._fetch(target.id, set(hashes))
        if missing:
            by_hash = {h: t for h, t in zip(hashes, texts)}
            order = sorted(missing)
            vectors = target.encode_texts([by_hash[h] for h in order])
            self.encoded_texts += len(order)
            rows = []
            for text_hash, vector in zip(order, vectors):
                self._memory[(target.id, text_hash)] = vector
                rows.append((target.id, text_hash, vector.astype(np.float32).tobytes()))
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO text_embeddings VALUES (?, ?, ?)", rows)
        return np.stack([self._memory[(target.id, h)] for h in hashes])

    def _fetch(self, target_id: str, hashes: set[str]) -> set[str]:
        """Load stored vectors into memory; returns the hashes still missing."""
        unknown = [h for h in hashes if (target_id, h) not in self._memory]
        for start in range(0, len(unknown), 500):
            chunk = unknown[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT text_hash, vector FROM text_embeddings WHERE target_id = ? AND text_hash IN ({marks})"
            for text_hash, blob in self._db.execute(query, [target_id, *chunk]):
                self._memory[(target_id, text_hash)] = np.frombuffer(blob, dtype=np.float32)
        return {h for h in unknown if (target_id, h) not in self._memory}
