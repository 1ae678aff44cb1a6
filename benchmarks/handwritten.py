"""Prompts written by hand in this project for the benchmark's baselines.

The templates are generic on purpose: the same list serves every dataset of a modality,
as CLIP's published template lists do, so no template was tuned on a benchmark set.
"""

from __future__ import annotations

TEXT_TEMPLATES = (
    "This text is about {}.",
    "A text about {}.",
    "This is an example of {}.",
    "The topic of this text is {}.",
    "Category: {}.",
    "It is about {}.",
    "A short piece of writing on the subject of {}.",
    "Here is a message concerning {}.",
    "Something related to {}.",
    "An example of a {} text.",
    "Label: {}.",
    "This sentence is an instance of {}.",
)

IMAGE_TEMPLATES = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a close-up photo of a {}.",
    "a low resolution photo of a {}.",
    "a photo of the small {}.",
    "a photo of the large {}.",
    "a drawing of a {}.",
    "a black and white photo of a {}.",
    "a cropped photo of a {}.",
    "a bright photo of a {}.",
)

TEMPLATES = {"text": TEXT_TEMPLATES, "image": IMAGE_TEMPLATES}

# One-line task descriptions of the evaluation sets, keyed by the dataset's folder name.
# Every LLM-based method receives the same line, so none of them gains from it alone.
# They describe the task only; none was written from labelled examples.
TASK_DESCRIPTIONS = {
    "ag_news": "news articles by topic",
    "trec": "questions by the type of answer they ask for",
    "sst2": "movie review sentences by sentiment",
    "emotion": "short personal posts by the emotion they express",
    "banking77": "online banking customer requests by intent",
    "fashion_mnist": "grayscale photos of clothing items",
    "cifar10": "small photos of objects and animals",
    "digits": "low resolution images of handwritten digits",
}
