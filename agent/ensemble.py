"""Turning scored candidates into one classifier.

A classifier is a (C, D) matrix whose row c is the normalised mean of the unit embeddings
of all prompts for class c, as in CLIP's prompt ensembling. A candidate contributes the
sum of its prompt embeddings per class, so a set of candidates (a multiset, members may
repeat) gives the same matrix as the flat list of all their prompts.

Two selection methods turn a scored pool into a weighted set of members, both driven only
by a label-free fitness of a class matrix: greedy forward selection and ZPE-style softmax
weights. `select` picks one by its name in `METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from agent.targets import normalize_rows


@dataclass(frozen=True)
class Component:
    """The per-class sums of one candidate's prompt embeddings."""

    key: str
    sums: np.ndarray  # (C, D), each row the sum of that class's unit prompt embeddings


def class_matrix(components: Sequence[Component], weights: Sequence[float] | None = None) -> np.ndarray:
    """Combine components into a (C, D) unit class embedding matrix."""
    weights = [1.0] * len(components) if weights is None else list(weights)
    total = sum(w * c.sums for w, c in zip(weights, components))
    return normalize_rows(total)


@dataclass(frozen=True)
class Selection:
    """The chosen members (indices into the pool, repeats allowed), their weights and fitness."""

    members: tuple[int, ...]
    weights: tuple[float, ...]
    fitness: float


def greedy_selection(
    pool: Sequence[Component],
    fitness: Callable[[np.ndarray], float],
    max_members: int = 12,
    candidates_considered: int = 32,
    tolerance: float = 1e-6,
) -> Selection:
    """Forward selection with replacement: add the member that raises fitness most, until none does.

    Only the `candidates_considered` components with the best single fitness are tried,
    which bounds the cost at about `max_members * candidates_considered` fitness calls.
    """
    if not pool:
        raise ValueError("greedy selection needs at least one component")
    single = [fitness(class_matrix([component])) for component in pool]
    # Among equal scores the earliest candidate wins: baselines and seeds come first.
    order = list(np.argsort(-np.asarray(single), kind="stable")[:candidates_considered])
    members = [int(order[0])]
    total = pool[members[0]].sums.copy()
    best = single[members[0]]
    while len(members) < max_members:
        scores = [fitness(normalize_rows(total + pool[i].sums)) for i in order]
        pick = int(np.argmax(scores))
        if scores[pick] <= best + tolerance:
            break
        best = scores[pick]
        members.append(int(order[pick]))
        total += pool[order[pick]].sums
    counts: dict[int, int] = {}
    for member in members:
        counts[member] = counts.get(member, 0) + 1
    return Selection(members=tuple(counts), weights=tuple(float(v) for v in counts.values()), fitness=float(best))


def zpe_weighting(
    pool: Sequence[Component],
    fitness: Callable[[np.ndarray], float],
    max_members: int = 12,
    temperature: float = 0.5,
) -> Selection:
    """Weight the `max_members` best components by a softmax of their standardised single fitness.

    The weights follow ZPE (Allingham et al. 2023): `w_p = softmax(s_p / T)` over the kept
    components, where `s_p` is candidate p's fitness alone. ZPE's scores are logits, so
    this standardises them first (`(s_p - mean) / std` over the kept components) to make `T`
    independent of the fitness's range. Keeping only the best scores replaces ZPE's
    optional outlier selection. A weight multiplies the component's per-class sums, so a
    component with more prompts per class counts more, as in `class_matrix`.
    """
    if not pool:
        raise ValueError("ZPE weighting needs at least one component")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}; use a value such as 0.5")
    single = np.array([fitness(class_matrix([component])) for component in pool], dtype=np.float64)
    order = np.argsort(-np.asarray(single), kind="stable")[: max(1, max_members)]
    top_scores = single[order]
    spread = top_scores.std()
    standardised = (top_scores - top_scores.mean()) / spread if spread > 0 else np.zeros_like(top_scores)
    logits = standardised / temperature
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    members = [int(i) for i in order]
    matrix = class_matrix([pool[i] for i in members], weights)
    return Selection(members=tuple(members), weights=tuple(float(w) for w in weights), fitness=float(fitness(matrix)))


SelectionMethod = Callable[..., Selection]
METHODS: dict[str, SelectionMethod] = {"greedy": greedy_selection, "zpe": zpe_weighting}
DEFAULT_METHOD = "greedy"


def select(
    method: str, pool: Sequence[Component], fitness: Callable[[np.ndarray], float], max_members: int = 12
) -> Selection:
    """Choose an ensemble from `pool` with the selection method registered as `method`."""
    from agent.errors import InputError

    if method not in METHODS:
        raise InputError(f"unknown ensemble method {method!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[method](pool, fitness, max_members=max_members)
