"""The published zero-shot prompt methods the benchmark compares against, label-free.

- CuPL (Pratt et al. 2023): an LLM writes several sentences per class; the class
  embedding is the normalised mean of their unit embeddings, with no selection.
- DCLIP (Menon & Vondrick 2023): an LLM lists features per class; a class's score is the
  mean cosine similarity over "{class}, which {feature}" sentences.
- WaffleCLIP (Roth et al. 2023): the same scoring with random words and random character
  strings as descriptors, one shared set for every class.
- ZPE (Allingham et al. 2023): a prompt's score is the mean over inputs of the max over
  classes of its logit minus that class's mean logit over the inputs. The prompt weights
  are the softmax of the scores. The pretraining-sample half of the bias is left out
  because no such sample is available offline.

Embeddings enter through `Embed`, a function from texts to (N, D) unit rows, so tests can
pass a fake encoder. Nothing here reads labels.
"""

from __future__ import annotations

import json
import logging
import string
from typing import Callable, Sequence

import numpy as np

from agent.candidates import fill_template
from agent.errors import LLMError
from agent.targets import normalize_rows
from benchmarks.llm_cache import CachedLLM, Usage

logger = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]

# Listing every class name gives the LLM context for coded names such as "ABBR". A list of
# many classes makes every per-class request long, so above this count it is left out.
MAX_LISTED_CLASSES = 20
RETRIES = 1
# A retry uses another sample index, so the backend samples with another seed.
RETRY_SAMPLE_OFFSET = 10_000

CUPL_QUESTIONS = {
    "text": (
        "Write {count} different short sentences that could each be an input of the class {name}.",
        "Describe in {count} short sentences what inputs of the class {name} are usually about.",
    ),
    "image": (
        "Write {count} different short sentences that describe what a photo of a {name} looks like.",
        "Write {count} short sentences on how to recognise a {name} in a photo.",
    ),
}
DESCRIPTOR_REQUEST = {
    "text": "List {count} short features that tell inputs of the class {name} apart from inputs of other classes.",
    "image": "List {count} short visual features that tell a photo of a {name} apart from photos of other classes.",
}


# Class matrices


def template_prompts(templates: Sequence[str], class_names: Sequence[str]) -> list[list[str]]:
    """Expand templates into one prompt list per class, in class order."""
    return [[fill_template(template, name) for template in templates] for name in class_names]


def embed_prompt_lists(embed: Embed, prompt_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Embed every class's prompts in one call; returns one (n_c, D) array per class."""
    flat = [prompt for prompts in prompt_lists for prompt in prompts]
    vectors = embed(flat)
    arrays, start = [], 0
    for prompts in prompt_lists:
        arrays.append(vectors[start : start + len(prompts)])
        start += len(prompts)
    return arrays


def mean_embedding_matrix(per_class: Sequence[np.ndarray]) -> np.ndarray:
    """Build the (C, D) prompt-ensemble classifier: each row is the normalised mean of its unit embeddings."""
    return normalize_rows(np.stack([vectors.mean(axis=0) for vectors in per_class]))


def mean_similarity_matrix(per_class: Sequence[np.ndarray]) -> np.ndarray:
    """Build the (C, D) descriptor classifier with unnormalised rows, so `x @ row` is the mean similarity.

    `x . mean_i(e_i) = mean_i(x . e_i)`, so the arg-max of these scores is DCLIP's decision,
    which differs from the normalised mean whenever classes' descriptors spread differently.
    """
    return np.stack([vectors.mean(axis=0) for vectors in per_class]).astype(np.float32)


def descriptor_prompts(descriptors: dict[str, Sequence[str]], class_names: Sequence[str]) -> list[list[str]]:
    """Write each class's descriptors as "{class}, which {descriptor}" sentences."""
    prompts = []
    for name in class_names:
        phrases = [_strip_which(phrase) for phrase in descriptors.get(name, [])]
        prompts.append([f"{name}, which {phrase}" for phrase in phrases if phrase] or [name])
    return prompts


def _strip_which(phrase: str) -> str:
    phrase = " ".join(phrase.split())
    if phrase.lower().startswith("which "):
        phrase = phrase[len("which ") :]
    return phrase


# LLM generations


def request_messages(task: str | None, class_names: Sequence[str], name: str, request: str, key: str) -> list[dict]:
    """Build the chat messages of one per-class request whose reply is `{"<key>": [...]}`."""
    lines = [f"Task: classify {task or 'inputs'}."]
    if len(class_names) <= MAX_LISTED_CLASSES:
        lines.append(f"Classes: {', '.join(class_names)}")
    lines += [f"Class: {name}", request, f'Reply as JSON: {{"{key}": ["...", ...]}}']
    system = "You help build a zero-shot classifier. You reply with JSON only, exactly in the requested shape."
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def list_schema(key: str, count: int, max_chars: int) -> dict:
    """Return the JSON Schema of a reply that contains exactly `count` strings under `key`."""
    item = {"type": "string", "minLength": 3, "maxLength": max_chars}
    array = {"type": "array", "items": item, "minItems": count, "maxItems": count}
    return {"type": "object", "properties": {key: array}, "required": [key], "additionalProperties": False}


def parse_string_list(text: str, key: str) -> list[str]:
    """Return the non-empty, distinct strings under `key` in a JSON reply; raises LLMError."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1] if 0 <= start < end else text)
    except json.JSONDecodeError as error:
        raise LLMError(f"reply is not valid JSON ({error.msg}): {text[:120]!r}") from error
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise LLMError(f"reply has no {key!r} list: {text[:120]!r}")
    cleaned = [" ".join(item.split()) for item in items if isinstance(item, str)]
    return list(dict.fromkeys(item for item in cleaned if item))


def ask_list(llm: CachedLLM, messages: list[dict], key: str, count: int, sample: int, usage: Usage) -> list[str]:
    """Ask for `count` strings, retrying a failed or unparseable call; returns [] when all fail."""
    schema = list_schema(key, count, max_chars=150)
    for attempt in range(RETRIES + 1):
        try:
            reply = llm.complete(
                messages, usage, sample=sample + attempt * RETRY_SAMPLE_OFFSET, schema=schema,
                temperature=0.8, max_tokens=60 * count + 40,
            )
        except LLMError as error:
            logger.warning("request for %r failed (attempt %d): %s", key, attempt + 1, error)
            continue
        try:
            return parse_string_list(reply.text, key)
        except LLMError as error:
            # CachedLLM counts backend errors; a reply that arrived but cannot be parsed is counted here.
            usage.failed_calls += 1
            logger.warning("reply for %r could not be parsed (attempt %d): %s", key, attempt + 1, error)
    return []


def generate_cupl(
    llm: CachedLLM,
    class_names: Sequence[str],
    modality: str,
    task: str | None,
    *,
    per_call: int,
    samples: int,
    questions: int | None = None,
) -> tuple[dict[str, list[list[str]]], Usage]:
    """Ask the first `questions` CuPL questions (default all) `samples` times per class.

    Returns each class's sentence lists and the usage.

    A class's lists are ordered by (question, sample), one list per call, and a failed
    call leaves an empty list so that positions stay aligned across classes.
    """
    usage = Usage()
    sentences: dict[str, list[list[str]]] = {name: [] for name in class_names}
    for name in class_names:
        for question in CUPL_QUESTIONS[modality][:questions]:
            request = question.format(count=per_call, name=name)
            messages = request_messages(task, class_names, name, request, "sentences")
            for sample in range(samples):
                sentences[name].append(ask_list(llm, messages, "sentences", per_call, sample, usage)[:per_call])
    return sentences, usage


def generate_descriptors(
    llm: CachedLLM, class_names: Sequence[str], modality: str, task: str | None, *, count: int
) -> tuple[dict[str, list[str]], Usage]:
    """Ask once per class for `count` distinguishing features (DCLIP's descriptors)."""
    usage = Usage()
    descriptors: dict[str, list[str]] = {}
    for name in class_names:
        request = DESCRIPTOR_REQUEST[modality].format(count=count, name=name)
        request += f' Each feature completes the sentence "{name}, which ...", for example "is ..." or "has ...".'
        messages = request_messages(task, class_names, name, request, "features")
        descriptors[name] = ask_list(llm, messages, "features", count, 0, usage)[:count]
    return descriptors, usage


def flatten_cupl(sentences: dict[str, list[list[str]]], class_names: Sequence[str]) -> list[list[str]]:
    """Return one prompt list per class: all its CuPL sentences, or the class name when every call failed."""
    prompts = []
    for name in class_names:
        flat = [sentence for group in sentences[name] for sentence in group]
        if not flat:
            logger.warning("no CuPL sentences for class %r; using the class name alone", name)
        prompts.append(flat or [name])
    return prompts


# WaffleCLIP


def waffle_descriptors(seed: int, words: Sequence[str], count: int) -> list[str]:
    """Draw `count` random descriptors: alternately two random words and a random character string.

    Each character string is as long as the word pair before it. Without `words`, every
    descriptor is a character string of 12 characters.
    """
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_lowercase + string.digits))
    descriptors: list[str] = []
    length = 12
    for index in range(count):
        if words and index % 2 == 0:
            pair = [str(words[i]) for i in rng.choice(len(words), size=2, replace=False)]
            descriptors.append(" ".join(pair))
            length = len(descriptors[-1])
        else:
            descriptors.append("".join(rng.choice(alphabet, size=length)))
    return descriptors


def waffle_prompts(descriptors: Sequence[str], class_names: Sequence[str]) -> list[list[str]]:
    """Write the same random descriptors for every class as "{class}, which has {descriptor}."."""
    return [[f"{name}, which has {descriptor}." for descriptor in descriptors] for name in class_names]


# ZPE


def template_matrices(embed: Embed, templates: Sequence[str], class_names: Sequence[str]) -> np.ndarray:
    """Stack (P, C, D) unit embeddings: for each template, every class's filled prompt."""
    prompts = [fill_template(template, name) for template in templates for name in class_names]
    vectors = embed(prompts)
    return vectors.reshape(len(templates), len(class_names), -1)


def cupl_slot_matrices(embed: Embed, sentences: dict[str, list[list[str]]], class_names: Sequence[str]) -> np.ndarray:
    """Stack (P, C, D) unit embeddings with one prompt per CuPL position (call, sentence index).

    ZPE weights prompts shared by all classes, but CuPL writes separate sentences per
    class, so the j-th sentence of a call serves as one prompt across classes. A class
    whose call returned fewer sentences fills the gap with its mean CuPL embedding.
    """
    groups = max(len(sentences[name]) for name in class_names)
    widths = [
        max((len(sentences[name][g]) for name in class_names if g < len(sentences[name])), default=0)
        for g in range(groups)
    ]
    per_class = embed_prompt_lists(embed, flatten_cupl(sentences, class_names))
    slots = []
    for group, width in enumerate(widths):
        for position in range(width):
            rows = []
            for name, vectors in zip(class_names, per_class):
                fallback = normalize_rows(vectors.mean(axis=0, keepdims=True))[0]
                index = _flat_index(sentences[name], group, position)
                rows.append(vectors[index] if index is not None else fallback)
            slots.append(np.stack(rows))
    return np.stack(slots)


def _flat_index(groups: list[list[str]], group: int, position: int) -> int | None:
    """Position of sentence (group, position) in the flattened list, or None when it is missing."""
    if group >= len(groups) or position >= len(groups[group]):
        return None
    return sum(len(g) for g in groups[:group]) + position


def zpe_scores(features: np.ndarray, matrices: np.ndarray, logit_scale: float) -> np.ndarray:
    """ZPE's score per prompt: `mean_x max_c (l(x, c) - mean_x' l(x', c))`, `l = s * cos`."""
    features = np.asarray(features, dtype=np.float64)
    scores = []
    for matrix in matrices:
        logits = logit_scale * features @ np.asarray(matrix, dtype=np.float64).T
        scores.append((logits - logits.mean(axis=0)).max(axis=1).mean())
    return np.array(scores)


def zpe_weights(scores: np.ndarray) -> np.ndarray:
    """Softmax of the prompt scores, which are already in logit units."""
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


def weighted_matrix(matrices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Build the (C, D) classifier as the normalised weighted sum of the prompts' class embeddings."""
    return normalize_rows(np.tensordot(weights, matrices, axes=1))
