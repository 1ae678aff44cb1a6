"""Fitness functions on small hand-made embeddings, with the expected values worked out by hand."""

import math

import numpy as np
import pytest

from agent.errors import InputError
from agent.scoring import (
    DEFAULT_FITNESS,
    FITNESS_FUNCTIONS,
    Clustering,
    aligned_agreement,
    centered_features,
    cluster_class_matching,
    cluster_nmi,
    cluster_purity,
    fitness_context,
    get_fitness,
    kmeans_clustering,
    knn_agreement,
    knn_balance,
    make_zpe_fitness,
    mean_max_confidence,
    nearest_neighbors,
    negative_entropy,
    nmi_aligned,
    prediction_balance,
    zpe_score,
)

X = np.array([1.0, 0.0], dtype=np.float32)
Y = np.array([0.0, 1.0], dtype=np.float32)
# Two classes along the axes; four inputs, two on each axis.
FEATURES = np.stack([X, X, Y, Y])
CLASSES = np.stack([X, Y])
SWAPPED = np.stack([Y, X])
# Clusters as k-means finds them on FEATURES: inputs 0-1 around X, inputs 2-3 around Y.
CLUSTERS = Clustering(labels=np.array([0, 0, 1, 1]), centroids=np.stack([X, Y]))
# Each input's nearest other input in FEATURES: its twin on the same axis.
TWINS = np.array([[1], [0], [3], [2]])


def test_confidence_at_log3_scale():
    # Logits (ln 3, 0) give softmax (3/4, 1/4) for every input.
    value = mean_max_confidence(FEATURES, CLASSES, logit_scale=math.log(3))
    assert value == pytest.approx(0.75)


def test_negative_entropy_at_log3_scale():
    expected = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)  # -0.562335
    value = negative_entropy(FEATURES, CLASSES, logit_scale=math.log(3))
    assert value == pytest.approx(expected)


def test_negative_entropy_uniform_is_minus_log_c():
    value = negative_entropy(FEATURES, CLASSES, logit_scale=0.0)
    assert value == pytest.approx(-math.log(2))


def test_zpe_test_mean_bias():
    # Three inputs on X, one on Y, scale 4: logits (4, 0) x3 and (0, 4); bias b = (3, 1).
    # Corrected maxima: 1, 1, 1 and 3, so the mean is 1.5.
    features = np.stack([X, X, X, Y])
    assert zpe_score(features, CLASSES, logit_scale=4.0) == pytest.approx(1.5)


def test_zpe_reference_bias():
    # Reference mean logits (0, 4): b = 0.5 * (3, 1) + 0.5 * (0, 4) = (1.5, 2.5).
    # Corrected maxima: 2.5 three times and 1.5 once, so the mean is 2.25.
    features = np.stack([X, X, X, Y])
    value = zpe_score(features, CLASSES, logit_scale=4.0, reference=np.stack([Y]))
    assert value == pytest.approx(2.25)


def test_zpe_factory_binds_reference():
    features = np.stack([X, X, X, Y])
    fitness = make_zpe_fitness(np.stack([Y]))
    assert fitness(features, CLASSES, None, logit_scale=4.0) == pytest.approx(2.25)


def test_nmi_identical_partition():
    assert cluster_nmi(FEATURES, CLASSES, CLUSTERS) == pytest.approx(1.0)


def test_nmi_independent_partition():
    crossed = Clustering(labels=np.array([0, 1, 0, 1]), centroids=np.stack([X, Y]))
    assert cluster_nmi(FEATURES, CLASSES, crossed) == pytest.approx(0.0)


def test_purity_identical_partition():
    assert cluster_purity(FEATURES, CLASSES, CLUSTERS) == pytest.approx(1.0)


def test_purity_crossed_partition():
    # Each predicted class contains one input of each cluster: (1 + 1) / 4.
    crossed = Clustering(labels=np.array([0, 1, 0, 1]), centroids=np.stack([X, Y]))
    assert cluster_purity(FEATURES, CLASSES, crossed) == pytest.approx(0.5)


def test_purity_single_class_is_largest_cluster():
    # Both class embeddings point at X, class 0 wins every tie: one class holding 2 + 2.
    one_class = np.stack([X, X])
    assert cluster_purity(FEATURES, one_class, CLUSTERS) == pytest.approx(0.5)


def test_balance_equal_counts():
    assert prediction_balance(FEATURES, CLASSES) == pytest.approx(1.0)


def test_balance_three_to_one():
    features = np.stack([X, X, X, Y])
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)  # 0.811278
    assert prediction_balance(features, CLASSES) == pytest.approx(expected)


def test_balance_single_class():
    assert prediction_balance(FEATURES, np.stack([X, X])) == pytest.approx(0.0)


def test_matching_follows_centroids():
    match = cluster_class_matching(CLUSTERS, CLASSES)
    assert match.tolist() == [0, 1]


def test_matching_is_one_to_one():
    # Both centroids are nearest class 0 (cosines 0.8 against 0.28, and 0.96 against 0.936),
    # but 0->0, 1->1 sums to 1.736 and 0->1, 1->0 to 1.24, so cluster 1 gets class 1.
    classes = np.array([[0.8, 0.6], [0.28, 0.96]], dtype=np.float32)
    clusters = Clustering(labels=np.array([0, 1]), centroids=np.array([[1.0, 0.0], [0.6, 0.8]]))
    match = cluster_class_matching(clusters, classes)
    assert match.tolist() == [0, 1]


def test_aligned_agreement_correct_classifier():
    assert aligned_agreement(FEATURES, CLASSES, CLUSTERS) == pytest.approx(1.0)


def test_aligned_agreement_split_cluster():
    # A third input direction, predicted as class 1 though it sits in cluster 0 (centroid X).
    tilted = np.array([0.6, 0.8], dtype=np.float32)
    features = np.stack([X, tilted, Y, Y])
    clusters = Clustering(labels=np.array([0, 0, 1, 1]), centroids=np.stack([X, Y]))
    assert aligned_agreement(features, CLASSES, clusters) == pytest.approx(0.75)


def test_permuted_classes_same_nmi():
    # Swapping the class rows gives the same partition under other names: NMI cannot tell.
    assert cluster_nmi(FEATURES, SWAPPED, CLUSTERS) == cluster_nmi(FEATURES, CLASSES, CLUSTERS)


def test_permuted_classes_penalised_with_anchor():
    # With the class names as anchor, cluster 0 must be class 0; the swap predicts class 1 there.
    correct = aligned_agreement(FEATURES, CLASSES, CLUSTERS, anchor=CLASSES)
    swapped = aligned_agreement(FEATURES, SWAPPED, CLUSTERS, anchor=CLASSES)
    assert correct == pytest.approx(1.0)
    assert swapped == pytest.approx(0.0)


def test_default_penalises_permutation_with_anchor():
    # (NMI 1 + agreement 1) / 2 against (NMI 1 + agreement 0) / 2.
    assert nmi_aligned(FEATURES, CLASSES, CLUSTERS, anchor=CLASSES) == pytest.approx(1.0)
    assert nmi_aligned(FEATURES, SWAPPED, CLUSTERS, anchor=CLASSES) == pytest.approx(0.5)


def test_permutation_invisible_without_anchor():
    # Without an anchor the matching follows the swapped rows, so the score cannot change.
    assert nmi_aligned(FEATURES, SWAPPED, CLUSTERS) == pytest.approx(1.0)


def test_clustering_computed_when_missing():
    # With no clustering given, k-means with k = 2 finds the two groups itself.
    assert cluster_nmi(FEATURES, CLASSES) == pytest.approx(1.0)


def test_kmeans_finds_two_groups():
    clustering = kmeans_clustering(FEATURES, 2, seed=0)
    assert clustering.labels[0] == clustering.labels[1]
    assert clustering.labels[2] == clustering.labels[3]
    assert clustering.labels[0] != clustering.labels[2]


@pytest.mark.parametrize("name", sorted(FITNESS_FUNCTIONS))
def test_registry_call_signature(name):
    value = FITNESS_FUNCTIONS[name](FEATURES, CLASSES, CLUSTERS, logit_scale=20.0)
    assert isinstance(value, float)


@pytest.mark.parametrize("name", sorted(FITNESS_FUNCTIONS))
def test_registry_accepts_context_options(name):
    # The optimizer passes the same context options to whichever function is selected.
    options = fitness_context(FEATURES, 2, seed=0).options
    value = FITNESS_FUNCTIONS[name](FEATURES, CLASSES, CLUSTERS, logit_scale=20.0, **options)
    assert isinstance(value, float)


def test_default_is_registered():
    assert DEFAULT_FITNESS in FITNESS_FUNCTIONS


def test_unknown_fitness_rejected():
    with pytest.raises(InputError, match="unknown fitness 'accuracy'"):
        get_fitness("accuracy")


def test_balanced_default_on_correct_classifier():
    # NMI 1, agreement 1 and balance 1.
    assert FITNESS_FUNCTIONS["nmi_aligned_balance"](FEATURES, CLASSES, CLUSTERS) == pytest.approx(1.0)


def test_balanced_default_with_anchor_swap():
    # (NMI 1 + agreement 0) / 2 * balance 1.
    value = FITNESS_FUNCTIONS["nmi_aligned_balance"](FEATURES, SWAPPED, CLUSTERS, anchor=CLASSES)
    assert value == pytest.approx(0.5)


def test_centered_features_two_axes():
    # Mean (0.5, 0.5); X - mean = (0.5, -0.5), rescaled to (1, -1) / sqrt(2).
    centered = centered_features(np.stack([X, Y]))
    half = 1 / math.sqrt(2)
    assert centered[0] == pytest.approx([half, -half])
    assert centered[1] == pytest.approx([-half, half])


def test_nearest_neighbors_finds_twins():
    assert nearest_neighbors(FEATURES, k=1).tolist() == TWINS.tolist()


def test_nearest_neighbors_caps_k():
    # Four inputs have at most three other inputs each.
    assert nearest_neighbors(FEATURES, k=10).shape == (4, 3)


def test_nearest_neighbors_order():
    # Unit vectors at 0, 30 and 180 degrees; mean (0.2887, 0.1667). Centered cosines: input 0
    # against 1 is 0.729 and against 2 is -0.936; input 2 against 1 is -0.923.
    degrees = np.radians([0.0, 30.0, 180.0])
    features = np.stack([np.cos(degrees), np.sin(degrees)], axis=1)
    neighbors = nearest_neighbors(features, k=2)
    assert neighbors[0].tolist() == [1, 2]
    assert neighbors[2].tolist() == [1, 0]


def test_nearest_neighbors_blocks_match_whole():
    # Blocks of one row must exclude each input itself at the right offset.
    assert nearest_neighbors(FEATURES, k=1, block_rows=1).tolist() == TWINS.tolist()


def test_knn_agreement_twins_agree():
    assert knn_agreement(FEATURES, CLASSES, neighbors=TWINS) == pytest.approx(1.0)


def test_knn_agreement_crossed_neighbors():
    # Every input's neighbour lies on the other axis, so is predicted as the other class.
    crossed = np.array([[2], [3], [0], [1]])
    assert knn_agreement(FEATURES, CLASSES, neighbors=crossed) == pytest.approx(0.0)


def test_knn_agreement_computes_neighbors():
    # k is capped at 3 for four inputs: each input has its twin and the two inputs of the
    # other class as neighbours, so 1 of 3 agrees.
    assert knn_agreement(FEATURES, CLASSES) == pytest.approx(1 / 3)


def test_knn_agreement_single_input():
    assert knn_agreement(np.stack([X]), CLASSES) == pytest.approx(1.0)


def test_knn_balance_three_to_one():
    # Predictions 0, 0, 0, 1; neighbours agree for inputs 0-2 and not for 3: 0.75.
    # Balance of shares (3/4, 1/4) is 0.811278, so the product is 0.608459.
    features = np.stack([X, X, X, Y])
    neighbors = np.array([[1], [2], [0], [0]])
    assert knn_balance(features, CLASSES, neighbors=neighbors) == pytest.approx(0.75 * 0.811278, abs=1e-6)


def test_knn_balance_single_class_is_zero():
    # One class for everything: agreement 1, balance 0.
    assert knn_balance(FEATURES, np.stack([X, X]), neighbors=TWINS) == pytest.approx(0.0)


def test_knn_balance_correct_classifier():
    assert knn_balance(FEATURES, CLASSES, neighbors=TWINS) == pytest.approx(1.0)


def test_fitness_context_clusters():
    context = fitness_context(FEATURES, 2, seed=0)
    assert context.clustering.labels[0] == context.clustering.labels[1]
    assert context.clustering.labels[0] != context.clustering.labels[2]


def test_fitness_context_neighbors():
    context = fitness_context(FEATURES, 2, seed=0)
    assert context.neighbors[:, 0].tolist() == TWINS[:, 0].tolist()


def test_fitness_context_options():
    context = fitness_context(FEATURES, 2, seed=0)
    assert list(context.options) == ["neighbors"]
