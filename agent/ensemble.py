"""Turning scored candidates into one classifier.

A classifier is a (C, D) matrix whose row c is the normalised mean of the unit embeddings
of all prompts for class c, as in CLIP's prompt ensembling. A candidate contributes the
sum of its prompt embeddings per class, so a set of candidates (a multiset, members may
repeat) gives the same matrix as the flat list of all their prompts.
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
    order = list(np.argsort(single)[::-1][:candidates_considered])
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
