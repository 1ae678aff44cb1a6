"""Ensemble selection on hand-made components and a fitness that rewards one direction."""

import math

import numpy as np
import pytest

from agent.ensemble import METHODS, Component, class_matrix, greedy_selection, select, zpe_weighting
from agent.errors import InputError

# Two classes in 2-D. A component's row c is the sum of its class-c prompt embeddings.
GOOD = Component("good", np.array([[1.0, 0.0], [0.0, 1.0]]))
TILTED = Component("tilted", np.array([[0.6, 0.8], [0.0, 1.0]]))
BAD = Component("bad", np.array([[0.0, 1.0], [0.0, 1.0]]))
POOL = [BAD, TILTED, GOOD]


def alignment(matrix: np.ndarray) -> float:
    """A stand-in fitness: how close class 0's embedding is to the x axis."""
    return float(matrix[0, 0])


def test_class_matrix_normalises_weighted_sum():
    # Row 0: 1 * (1, 0) + 1 * (0.6, 0.8) = (1.6, 0.8), norm sqrt(3.2).
    matrix = class_matrix([GOOD, TILTED])
    assert matrix[0] == pytest.approx([1.6 / math.sqrt(3.2), 0.8 / math.sqrt(3.2)], abs=1e-6)


def test_greedy_picks_best_single():
    selection = greedy_selection(POOL, alignment)
    assert selection.members == (2,)


def test_greedy_stops_without_gain():
    # Adding TILTED or BAD to GOOD lowers row 0's x part, so GOOD stays alone.
    selection = greedy_selection(POOL, alignment)
    assert selection.fitness == pytest.approx(1.0)


def test_zpe_weights_follow_scores():
    # Single fitness: GOOD 1, TILTED 0.6, BAD 0; standardised with mean 8/15 and
    # std sqrt(0.1689): z = (1.1355, 0.1622, -1.2978); weights = softmax(z / 0.5).
    selection = zpe_weighting(POOL, alignment, temperature=0.5)
    scores = np.array([1.0, 0.6, 0.0])
    z = (scores - scores.mean()) / scores.std()
    expected = np.exp(z / 0.5) / np.exp(z / 0.5).sum()
    assert selection.members == (2, 1, 0)
    assert selection.weights == pytest.approx(expected.tolist())


def test_zpe_first_weight_value():
    # exp(2.2711) / (exp(2.2711) + exp(0.3244) + exp(-2.5955)) = 9.690 / 11.148 = 0.8692.
    selection = zpe_weighting(POOL, alignment, temperature=0.5)
    assert selection.weights[0] == pytest.approx(0.8692, abs=1e-4)


def test_zpe_keeps_max_members():
    selection = zpe_weighting(POOL, alignment, max_members=2)
    assert selection.members == (2, 1)


def test_zpe_equal_scores_equal_weights():
    selection = zpe_weighting([GOOD, GOOD], alignment)
    assert selection.weights == pytest.approx([0.5, 0.5])


def test_zpe_rejects_zero_temperature():
    with pytest.raises(ValueError, match="temperature must be positive"):
        zpe_weighting(POOL, alignment, temperature=0.0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_select_dispatches(method):
    selection = select(method, POOL, alignment, max_members=3)
    assert selection.members[0] == 2


def test_select_unknown_method():
    with pytest.raises(InputError, match="unknown ensemble method 'vote'"):
        select("vote", POOL, alignment)
