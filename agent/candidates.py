"""Candidates: the units the optimizer proposes, scores and combines.

Three kinds, each expanding to a list of prompts per class:
- `template`: one string with a single `{}` placeholder, filled with each class name;
- `names`: one alternative name per class (so `HUM` can become `person`), used alone;
- `descriptions`: a few sentences per class.
A `names` or `descriptions` candidate may cover only some classes (the proposer requests a
subset when there are many). The classes it leaves out are represented by their name.
A candidate is identified by the hash of its kind and canonical payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from agent.hashing import canonical_json, content_hash

KINDS = ("template", "names", "descriptions")
PLACEHOLDER = "{}"
MAX_TEMPLATE_CHARS = 160
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 240
MAX_DESCRIPTIONS_PER_CLASS = 5

Payload = Union[str, dict]


@dataclass(frozen=True)
class Candidate:
    """A template, a class-name mapping or a description set, with its kind."""

    kind: str
    payload: Payload

    @property
    def text(self) -> str:
        """The payload as stored and shown to the LLM: the template itself, or canonical JSON."""
        return self.payload if isinstance(self.payload, str) else canonical_json(self.payload)

    @property
    def hash(self) -> str:
        return content_hash([self.kind, self.payload])

    def prompts(self, class_names: Sequence[str]) -> list[list[str]]:
        """Expand into one list of prompt texts per class, in class order."""
        if self.kind == "template":
            return [[fill_template(self.payload, name)] for name in class_names]
        if self.kind == "names":
            return [[self.payload.get(name, name)] for name in class_names]
        if self.kind == "descriptions":
            return [list(self.payload.get(name, [name])) for name in class_names]
        raise ValueError(f"unknown candidate kind {self.kind!r}; expected one of {KINDS}")


def fill_template(template: str, class_name: str) -> str:
    """Put the class name into the template's `{}` (other braces are left as they are)."""
    return template.replace(PLACEHOLDER, class_name, 1)


def candidate_from_text(kind: str, text: str) -> Candidate:
    """Rebuild a candidate from its stored kind and text."""
    import json

    if kind == "template":
        return Candidate(kind, text)
    return Candidate(kind, json.loads(text))


def validate(
    candidate: Candidate, class_names: Sequence[str], requested: Sequence[str] | None = None
) -> str | None:
    """Return why the candidate is invalid, or None when it is valid.

    A mapping must cover exactly the `requested` classes (default: all of them).
    """
    requested = class_names if requested is None else requested
    if candidate.kind == "template":
        return _validate_template(candidate.payload)
    if candidate.kind == "names":
        return _validate_mapping(candidate.payload, requested, _validate_name)
    if candidate.kind == "descriptions":
        return _validate_mapping(candidate.payload, requested, _validate_sentences)
    return f"unknown kind {candidate.kind!r}"


def _validate_template(template: object) -> str | None:
    if not isinstance(template, str) or not template.strip():
        return "template is empty"
    count = template.count(PLACEHOLDER)
    if count != 1:
        return f"template must contain the placeholder {{}} exactly once, found {count}"
    if len(template) > MAX_TEMPLATE_CHARS:
        return f"template is {len(template)} characters, more than the limit of {MAX_TEMPLATE_CHARS}"
    if not template.replace(PLACEHOLDER, "").strip(" .,:;-"):
        return "template has no words besides the placeholder"
    return None


def _validate_mapping(payload: object, class_names: Sequence[str], check) -> str | None:
    if not isinstance(payload, dict):
        return "expected an object keyed by class name"
    missing = [name for name in class_names if name not in payload]
    if missing:
        return f"missing classes: {', '.join(missing[:5])}"
    extra = [name for name in payload if name not in class_names]
    if extra:
        return f"unknown classes: {', '.join(map(str, extra[:5]))}"
    for name in class_names:
        reason = check(payload[name])
        if reason:
            return f"class {name!r}: {reason}"
    return None


def _validate_name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "name is empty"
    if len(value) > MAX_NAME_CHARS:
        return f"name is {len(value)} characters, more than the limit of {MAX_NAME_CHARS}"
    if PLACEHOLDER in value:
        return "a name must not contain {}"
    return None


def _validate_sentences(value: object) -> str | None:
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of sentences"
    if len(value) > MAX_DESCRIPTIONS_PER_CLASS:
        return f"{len(value)} sentences, more than the limit of {MAX_DESCRIPTIONS_PER_CLASS}"
    for sentence in value:
        if not isinstance(sentence, str) or not sentence.strip():
            return "a sentence is empty"
        if len(sentence) > MAX_DESCRIPTION_CHARS:
            return f"a sentence is {len(sentence)} characters, more than the limit of {MAX_DESCRIPTION_CHARS}"
    if len(set(value)) != len(value):
        return "the same sentence appears twice"
    return None


def normalize_payload(kind: str, payload: Payload) -> Payload:
    """Collapse whitespace so that trivially different replies hash the same."""
    if kind == "template" and isinstance(payload, str):
        return _squeeze(payload)
    if kind not in ("names", "descriptions") or not isinstance(payload, dict):
        return payload
    normalized = {}
    for key, value in payload.items():
        if isinstance(value, list):
            # Small models often repeat a sentence; one copy keeps the rest of the set usable.
            value = list(dict.fromkeys(_squeeze(item) for item in value))
        normalized[str(key).strip()] = _squeeze(value)
    return normalized


def _squeeze(value: object) -> object:
    return " ".join(value.split()) if isinstance(value, str) else value
