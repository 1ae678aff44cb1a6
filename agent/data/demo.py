"""The built-in `demo` dataset: short sentences on four topics, written for this project.

Each sentence joins a subject and an event from its topic's lists below, so the set is
small, deterministic and needs no download. The texts are original to this project.
"""

from __future__ import annotations

from itertools import product

from agent.data import Dataset
from agent.data.classes import labels_to_indices
from agent.errors import InputError
from agent.hashing import content_hash

_TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sports": (
        ("The home team", "Our goalkeeper", "The veteran striker", "The rowing crew", "A young sprinter"),
        (
            "won the final after extra time.",
            "was injured in the second half of the match.",
            "broke the club record for points in a season.",
            "trained twice a day before the championship.",
            "lost on penalties in front of a full stadium.",
            "signed a new contract with the league winners.",
            "scored twice in the derby on Sunday.",
            "was sent off for a late tackle.",
        ),
    ),
    "weather": (
        ("The coastal towns", "Farmers in the valley", "The northern hills", "Commuters in the city", "The islands"),
        (
            "woke up to heavy snow and icy roads.",
            "are bracing for a storm with strong winds tonight.",
            "saw the hottest afternoon of the summer so far.",
            "expect light rain clearing by the evening.",
            "had thick fog until late in the morning.",
            "were flooded after three days of downpours.",
            "will see sunshine and a gentle breeze tomorrow.",
            "recorded frost on the ground overnight.",
        ),
    ),
    "cooking": (
        ("This recipe", "My grandmother", "The new bakery", "A simple weeknight dish", "The chef"),
        (
            "uses roasted garlic, butter and fresh thyme.",
            "needs the dough to rest for an hour before baking.",
            "simmers the tomato sauce slowly with basil.",
            "calls for two eggs, flour and a pinch of salt.",
            "fries the onions until they turn golden.",
            "serves the soup with warm bread from the oven.",
            "marinates the chicken in lemon and herbs overnight.",
            "whisks cream and sugar into a light dessert.",
        ),
    ),
    "finance": (
        ("The central bank", "Shares in the retailer", "Small investors", "The pension fund", "The currency"),
        (
            "raised interest rates by a quarter point.",
            "fell sharply after weak quarterly earnings.",
            "moved savings into government bonds.",
            "reported a loss and cut its dividend.",
            "rose against the dollar on trade data.",
            "warned that inflation could stay high next year.",
            "borrowed more to pay for the acquisition.",
            "gained three percent as markets rallied.",
        ),
    ),
}

DEMO_DESCRIPTION = "short news-style sentences about everyday topics"


def demo_texts() -> tuple[list[str], list[str]]:
    """Return the demo texts and their topic labels, in a fixed interleaved order."""
    by_topic = {
        topic: [f"{subject} {event}" for subject, event in product(subjects, events)]
        for topic, (subjects, events) in _TOPICS.items()
    }
    texts, labels = [], []
    for position in range(max(len(rows) for rows in by_topic.values())):
        for topic, rows in by_topic.items():
            if position < len(rows):
                texts.append(rows[position])
                labels.append(topic)
    return texts, labels


def demo_dataset(class_names: tuple[str, ...] | None = None) -> Dataset:
    """Return the demo dataset: 160 texts in four classes, labelled for evaluation."""
    texts, label_values = demo_texts()
    names = tuple(_TOPICS)
    if class_names is not None and set(class_names) != set(names):
        raise InputError(f"the demo dataset has the classes {', '.join(names)}; leave out --classes for it")
    names = class_names or names
    return Dataset(
        name="demo",
        modality="text",
        inputs=texts,
        class_names=names,
        inputs_hash=content_hash(texts),
        labels=labels_to_indices(label_values, names, "the demo dataset"),
        description=DEMO_DESCRIPTION,
        source="demo",
    )
