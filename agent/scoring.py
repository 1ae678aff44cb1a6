"""Label-free fitness functions over cached embeddings.

Each fitness is a pure function `f(features, class_embeddings, clustering, logit_scale=...)`
of (N, D) unit input features and a (C, D) class embedding matrix, returning a float where
higher is better. No fitness can see labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score


@dataclass(frozen=True)
class Clustering:
    """A k-means clustering of the input features, computed once per dataset and seed."""

    labels: np.ndarray
    centroids: np.ndarray


def kmeans_clustering(features: np.ndarray, k: int, seed: int) -> Clustering:
    """Cluster the features into `k` groups with k-means (k-means++ start, 4 restarts)."""
    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(features)
    return Clustering(labels=model.labels_.astype(np.int64), centroids=model.cluster_centers_.astype(np.float32))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def mean_max_confidence(features, class_embeddings, clustering=None, *, logit_scale: float = 100.0) -> float:
    """Mean over inputs of the largest softmax probability of `logit_scale * cosine`."""
    probabilities = _softmax(logit_scale * features @ class_embeddings.T)
    return float(probabilities.max(axis=1).mean())


def cluster_nmi(features, class_embeddings, clustering: Clustering, *, logit_scale: float = 100.0) -> float:
    """Normalised mutual information between predictions and the k-means clusters."""
    predictions = (features @ class_embeddings.T).argmax(axis=1)
    return float(normalized_mutual_info_score(clustering.labels, predictions))


FitnessFunction = Callable[..., float]
FITNESS_FUNCTIONS: dict[str, FitnessFunction] = {
    "confidence": mean_max_confidence,
    "nmi": cluster_nmi,
}
DEFAULT_FITNESS = "nmi"


def get_fitness(name: str) -> FitnessFunction:
    """Return the fitness function registered under `name`."""
    from agent.errors import InputError

    if name not in FITNESS_FUNCTIONS:
        raise InputError(f"unknown fitness {name!r}; choose one of {', '.join(sorted(FITNESS_FUNCTIONS))}")
    return FITNESS_FUNCTIONS[name]
