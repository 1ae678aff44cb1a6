"""Label-free fitness functions over cached embeddings.

Each fitness is a pure function `f(features, class_embeddings, clustering=None, *, logit_scale)`
of (N, D) unit input features and a (C, D) unit class embedding matrix, returning a float
where higher is better. The logits are `logit_scale * features @ class_embeddings.T` and the
prediction for an input is the arg-max class. No fitness can see labels.

Functions that compare predictions with a k-means clustering take the clustering as an
argument so that it is computed once per dataset and seed (`kmeans_clustering`), and compute
it themselves when it is None. `docs/fitness.md` records how well each one tracks accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

CLUSTER_SEED = 0


@dataclass(frozen=True)
class Clustering:
    """A k-means clustering of the input features, computed once per dataset and seed."""

    labels: np.ndarray  # (N,) cluster index of every input
    centroids: np.ndarray  # (k, D) cluster means, not normalised


def kmeans_clustering(features: np.ndarray, k: int, seed: int) -> Clustering:
    """Cluster the features into `k` groups with k-means (k-means++ start, 4 restarts)."""
    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(features)
    return Clustering(labels=model.labels_.astype(np.int64), centroids=model.cluster_centers_.astype(np.float32))


# Shared pieces


def _logits(features: np.ndarray, class_embeddings: np.ndarray, logit_scale: float) -> np.ndarray:
    return logit_scale * (np.asarray(features, dtype=np.float64) @ np.asarray(class_embeddings, dtype=np.float64).T)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _predictions(features: np.ndarray, class_embeddings: np.ndarray) -> np.ndarray:
    return (np.asarray(features) @ np.asarray(class_embeddings).T).argmax(axis=1)


def _clustering_for(features: np.ndarray, class_embeddings: np.ndarray, clustering: Clustering | None) -> Clustering:
    """Return `clustering`, or a k-means clustering with k = number of classes when it is None."""
    if clustering is not None:
        return clustering
    return kmeans_clustering(features, len(class_embeddings), CLUSTER_SEED)


def _contingency(row_labels: np.ndarray, column_labels: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Return the (rows, columns) count matrix of label pairs."""
    table = np.zeros((rows, columns), dtype=np.int64)
    np.add.at(table, (row_labels, column_labels), 1)
    return table


def cluster_class_matching(clustering: Clustering, class_embeddings: np.ndarray) -> np.ndarray:
    """Match every cluster to one class by cosine similarity of centroid and class embedding.

    The matching is the one-to-one assignment that maximises the summed similarity
    (Hungarian algorithm, Kuhn 1955, as `scipy.optimize.linear_sum_assignment`). With more
    clusters than classes, the unmatched clusters take their most similar class. Returns
    an array `match` with `match[k]` the class index of cluster k.
    """
    centroids = np.asarray(clustering.centroids, dtype=np.float64)
    centroids = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    similarity = centroids @ np.asarray(class_embeddings, dtype=np.float64).T
    match = similarity.argmax(axis=1)
    cluster_rows, class_columns = linear_sum_assignment(similarity, maximize=True)
    match[cluster_rows] = class_columns
    return match


# Confidence-based scores


def mean_max_confidence(features, class_embeddings, clustering=None, *, logit_scale: float = 100.0) -> float:
    """Mean over inputs of the largest softmax probability, `mean_x max_c softmax(s * cos(x, w_c))`.

    The temperature is 1 / `logit_scale` (s = 100 for CLIP, 20 for sentence-transformers
    targets). Maximum softmax probability as a confidence score: Hendrycks & Gimpel 2017.
    """
    probabilities = _softmax(_logits(features, class_embeddings, logit_scale))
    return float(probabilities.max(axis=1).mean())


def negative_entropy(features, class_embeddings, clustering=None, *, logit_scale: float = 100.0) -> float:
    """Mean over inputs of `sum_c p_c log p_c` (the negative Shannon entropy, in nats).

    `p = softmax(logit_scale * cos(x, w))`, the same temperature as `mean_max_confidence`.
    Entropy minimisation as an unsupervised objective: Grandvalet & Bengio 2004.
    """
    probabilities = _softmax(_logits(features, class_embeddings, logit_scale))
    plogp = probabilities * np.log(np.maximum(probabilities, 1e-300))
    return float(plogp.sum(axis=1).mean())


def zpe_score(
    features, class_embeddings, clustering=None, *, logit_scale: float = 100.0, reference: np.ndarray | None = None
) -> float:
    """ZPE's bias-corrected max logit, `mean_x max_c (l(x, c) - b_c)` with `l = s * cos(x, w_c)`.

    Source: Allingham et al. 2023, "A Simple Zero-shot Prompt Weighting Technique to
    Improve Prompt Ensembling in Text-Image Models" (ZPE). The per-class bias `b_c` removes
    a prompt's preference for classes that are frequent in the encoder's training text:
    `b_c = mean_x l(x, c)` over the test inputs alone, or, when `reference` holds (M, D)
    unit features of a pretraining-like sample, `b_c = 0.5 * mean_test l(x, c) + 0.5 *
    mean_reference l(x, c)`.
    """
    logits = _logits(features, class_embeddings, logit_scale)
    bias = logits.mean(axis=0)
    if reference is not None:
        bias = 0.5 * bias + 0.5 * _logits(reference, class_embeddings, logit_scale).mean(axis=0)
    return float((logits - bias).max(axis=1).mean())


def make_zpe_fitness(reference: np.ndarray) -> Callable[..., float]:
    """Return `zpe_score` with its pretraining term bound to the (M, D) `reference` features."""
    reference = np.asarray(reference, dtype=np.float32)

    def zpe_with_reference(features, class_embeddings, clustering=None, *, logit_scale: float = 100.0) -> float:
        return zpe_score(features, class_embeddings, clustering, logit_scale=logit_scale, reference=reference)

    return zpe_with_reference


# Cluster-based scores


def cluster_nmi(features, class_embeddings, clustering: Clustering | None = None, *, logit_scale: float = 100.0) -> float:
    """Normalised mutual information between the predictions and the k-means clusters.

    `NMI = I(P; K) / ((H(P) + H(K)) / 2)` (arithmetic normalisation, Strehl & Ghosh 2002;
    `sklearn.metrics.normalized_mutual_info_score`). It is 1 when the predicted classes and
    the clusters are the same partition under any renaming, so it cannot tell which class
    a cluster is given. `logit_scale` is unused.
    """
    clustering = _clustering_for(features, class_embeddings, clustering)
    predictions = _predictions(features, class_embeddings)
    return float(normalized_mutual_info_score(clustering.labels, predictions))


def cluster_purity(features, class_embeddings, clustering: Clustering | None = None, *, logit_scale: float = 100.0) -> float:
    """Purity of the predicted classes against the k-means clusters, `(1/N) sum_c max_k |P_c ∩ K_k|`.

    Purity as in Manning, Raghavan & Schütze 2008 ("Introduction to Information
    Retrieval", section 16.3), with the predicted classes P_c as the groups scored and the
    clusters K_k as the reference. In this direction predicting one class for everything
    scores only the largest cluster's share, and 1 needs the two partitions to be equal
    when k equals the number of classes. Like NMI it is blind to renaming. `logit_scale` is unused.
    """
    clustering = _clustering_for(features, class_embeddings, clustering)
    predictions = _predictions(features, class_embeddings)
    clusters = int(clustering.labels.max()) + 1
    table = _contingency(predictions, clustering.labels, len(class_embeddings), clusters)
    return float(table.max(axis=1).sum() / len(predictions))


def prediction_balance(features, class_embeddings, clustering=None, *, logit_scale: float = 100.0) -> float:
    """Entropy of the predicted class marginal divided by its maximum, `H(q) / log C`.

    `q_c` is the fraction of inputs predicted as class c, so the score is 1 for equal
    counts and 0 when every input gets the same class. The marginal-entropy term of
    information-maximisation objectives (Krause, Perona & Gomes 2010). `logit_scale` is unused.
    """
    predictions = _predictions(features, class_embeddings)
    counts = np.bincount(predictions, minlength=len(class_embeddings)).astype(np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(-(shares * np.log(shares)).sum() / np.log(len(class_embeddings)))


def aligned_agreement(
    features,
    class_embeddings,
    clustering: Clustering | None = None,
    *,
    logit_scale: float = 100.0,
    anchor: np.ndarray | None = None,
) -> float:
    """Fraction of inputs predicted as the class matched to their cluster, `mean_x [pred(x) = m(k(x))]`.

    `k(x)` is the input's k-means cluster and `m` the one-to-one cluster-to-class matching
    by centroid similarity (`cluster_class_matching`), so the clusters act as pseudo-labels
    and the score is the accuracy against them. Unlike NMI it drops when a cluster's
    inputs are predicted as a class other than the one its centroid matches. The matching
    uses `anchor`, a (C, D) class embedding matrix such as the class names alone, when given,
    and the scored `class_embeddings` otherwise. Without an anchor, swapping two rows of
    `class_embeddings` swaps the matching too and leaves the score unchanged.
    `logit_scale` is unused.
    """
    clustering = _clustering_for(features, class_embeddings, clustering)
    match = cluster_class_matching(clustering, class_embeddings if anchor is None else anchor)
    predictions = _predictions(features, class_embeddings)
    return float((predictions == match[clustering.labels]).mean())


def nmi_aligned(
    features,
    class_embeddings,
    clustering: Clustering | None = None,
    *,
    logit_scale: float = 100.0,
    anchor: np.ndarray | None = None,
) -> float:
    """Mean of cluster NMI and aligned agreement, `(NMI + A) / 2`, designed in this project.

    NMI rewards a prediction partition that follows the cluster structure and `A`
    (`aligned_agreement`) rewards giving each cluster the class its centroid matches, so a
    partition that matches the clusters under the wrong matching scores lower than under
    the right one.
    """
    clustering = _clustering_for(features, class_embeddings, clustering)
    nmi = cluster_nmi(features, class_embeddings, clustering)
    agreement = aligned_agreement(features, class_embeddings, clustering, anchor=anchor)
    return 0.5 * (nmi + agreement)


def balanced_nmi_aligned(
    features,
    class_embeddings,
    clustering: Clustering | None = None,
    *,
    logit_scale: float = 100.0,
    anchor: np.ndarray | None = None,
) -> float:
    """`nmi_aligned` times `prediction_balance`, `(NMI + A) / 2 * H(q) / log C`, designed in this project.

    The balance factor lowers classifiers that put most inputs into a few classes, which
    cluster agreement misses when k-means itself splits the inputs unevenly. It is the
    default because it had the highest mean Spearman correlation with accuracy among the
    functions that `benchmarks/fitness.py` measures (docs/fitness.md). NOTE: the product form
    was picked on those same measurements, so its margin over the others may be optimistic.
    """
    clustering = _clustering_for(features, class_embeddings, clustering)
    agreement = nmi_aligned(features, class_embeddings, clustering, anchor=anchor)
    return agreement * prediction_balance(features, class_embeddings)


FitnessFunction = Callable[..., float]
FITNESS_FUNCTIONS: dict[str, FitnessFunction] = {
    "confidence": mean_max_confidence,
    "neg_entropy": negative_entropy,
    "zpe": zpe_score,
    "nmi": cluster_nmi,
    "purity": cluster_purity,
    "balance": prediction_balance,
    "aligned": aligned_agreement,
    "nmi_aligned": nmi_aligned,
    "nmi_aligned_balance": balanced_nmi_aligned,
}
DEFAULT_FITNESS = "nmi_aligned_balance"


def get_fitness(name: str) -> FitnessFunction:
    """Return the fitness function registered under `name`."""
    from agent.errors import InputError

    if name not in FITNESS_FUNCTIONS:
        raise InputError(f"unknown fitness {name!r}; choose one of {', '.join(sorted(FITNESS_FUNCTIONS))}")
    return FITNESS_FUNCTIONS[name]
