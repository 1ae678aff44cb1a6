"""The proposer: meta-prompt from `prompts/`, one LLM call, JSON parsing and validation."""

from __future__ import annotations

import json
import random
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any, Sequence

from agent.candidates import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_TEMPLATE_CHARS,
    Candidate,
    normalize_payload,
    validate,
)
from agent.errors import LLMError
from agent.llm import LLM

logger = logging.getLogger(__name__)

HISTORY_BEST = 5
HISTORY_WORST = 5
HISTORY_ITEM_CHARS = 300
# Replies that hold one mapping per class grow with the class count; this caps the
# classes times mappings asked for in one call.
MAX_MAPPED_CLASSES_PER_CALL = 12
# Reply patterns made of words, which keeps a small local model from emitting digit runs
# or JSON fragments; the bounded repeats cap the length. llama.cpp's grammar converter
# mishandles braces inside a negated character class, so no pattern uses one.
_WORD = "[A-Za-z][A-Za-z,.:;!?'/&-]{0,15}"
TEMPLATE_PATTERN = f"^({_WORD} ){{0,10}}\\{{\\}}([ ,.:;!?]{{1,2}}{_WORD}){{0,10}}[.!?]?$"
NAME_PATTERN = f"^{_WORD}( {_WORD}){{0,4}}$"
SENTENCE_PATTERN = f"^{_WORD}( {_WORD}){{3,14}}$"
# An upper bound on tokens per generated string, given the patterns' length caps.
TOKENS_PER_STRING = 40
REPLY_KEYS = {
    "template": "templates", "names": "renamings", "descriptions": "descriptions", "class_descriptions": "sentences",
}


@dataclass(frozen=True)
class ScoredText:
    """A past candidate as shown to the LLM: its text and fitness."""

    text: str
    fitness: float


@dataclass
class CallRecord:
    """One LLM call as it is stored: request, reply or error, usage."""

    attempt: int
    messages: list[dict[str, str]]
    seed: int
    response: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None


@dataclass
class Proposal:
    """The candidates, rejects and LLM calls of one request."""

    kind: str
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None


def load_meta_prompt(name: str) -> str:
    """Read `prompts/<name>.txt` as shipped in the package."""
    return resources.files("agent.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def seed_templates(modality: str, task: str) -> list[str]:
    """Read the generic templates of `prompts/<modality>_seed_templates.txt`, with $task filled in."""
    text = Template(load_meta_prompt(f"{modality}_seed_templates")).substitute(task=task)
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def requested_classes(kind: str, class_names: Sequence[str], seed: int) -> list[str]:
    """Return the classes a mapping request covers: all, or a seeded subset when there are many."""
    if kind == "template" or len(class_names) <= MAX_MAPPED_CLASSES_PER_CALL:
        return list(class_names)
    chosen = random.Random(seed).sample(range(len(class_names)), MAX_MAPPED_CLASSES_PER_CALL)
    return [class_names[i] for i in sorted(chosen)]


def request_count(kind: str, count: int, class_count: int) -> int:
    """Return how many candidates to request in one call, so that replies stay short."""
    if kind == "template":
        return count
    return max(1, min(count, MAX_MAPPED_CLASSES_PER_CALL // class_count))


def _strings_in_reply(schema: dict[str, Any]) -> int:
    """Return the maximum number of strings in a reply that matches `schema`."""
    array = next(iter(schema["properties"].values()))
    item = array["items"]
    if item.get("type") == "string":
        return array["maxItems"]
    value = next(iter(item["properties"].values()))
    return array["maxItems"] * len(item["properties"]) * value.get("maxItems", 1)


def class_history(history: Sequence[ScoredText], class_name: str) -> list[ScoredText]:
    """Return one class's sentences from earlier description sets, each with its set's fitness."""
    rows = []
    for item in history:
        try:
            payload = json.loads(item.text)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and class_name in payload:
            rows.append(ScoredText(" / ".join(payload[class_name]), item.fitness))
    return rows


def sentences_schema(count: int) -> dict[str, Any]:
    """Return the JSON Schema of a reply holding `count` sentences."""
    array = {"type": "array", "items": {"type": "string", "pattern": SENTENCE_PATTERN}, "minItems": count, "maxItems": count}
    return {"type": "object", "properties": {"sentences": array}, "required": ["sentences"], "additionalProperties": False}


def descriptions_per_class(class_count: int) -> int:
    return 2 if class_count <= 6 else 1


class Proposer:
    """Asks an LLM for new candidates of one kind, given the scored history."""

    def __init__(
        self,
        llm: LLM,
        class_names: Sequence[str],
        modality: str,
        description: str | None,
        retries: int = 2,
        temperature: float = 0.9,
    ) -> None:
        self.llm = llm
        self.class_names = list(class_names)
        self.modality = modality
        self.description = description
        self.retries = retries
        self.temperature = temperature

    def messages(
        self, kind: str, history: Sequence[ScoredText], count: int, classes: Sequence[str] | None = None
    ) -> list[dict[str, str]]:
        """Render the system and user messages for a request of `count` candidates about `classes`."""
        classes = self.class_names if classes is None else classes
        limits = {"template": MAX_TEMPLATE_CHARS, "names": MAX_NAME_CHARS, "descriptions": MAX_DESCRIPTION_CHARS}
        task = self.description or ("texts" if self.modality == "text" else "images")
        user = Template(load_meta_prompt(f"{self.modality}_{kind}")).substitute(
            task=task,
            classes=", ".join(classes),
            history=format_history(history),
            count=count,
            max_chars=limits[kind],
            per_class=descriptions_per_class(len(classes)),
        )
        return [{"role": "system", "content": load_meta_prompt("system").strip()}, {"role": "user", "content": user}]

    def propose(self, kind: str, history: Sequence[ScoredText], count: int, seen: set[str], seed: int) -> Proposal:
        """Ask for `count` new candidates, retrying failed or unparseable calls.

        Valid candidates whose hash is in `seen` are rejected as duplicates; `seen` is
        updated with every accepted hash.
        """
        if kind == "descriptions" and self.llm.prefers_short_requests:
            return self._propose_per_class(history, seen, seed)
        classes = requested_classes(kind, self.class_names, seed)
        count = request_count(kind, count, len(classes))
        messages = self.messages(kind, history, count, classes)
        schema = reply_schema(kind, classes, count)
        proposal = Proposal(kind)
        payloads = self._ask(messages, schema, seed, kind, proposal)
        if payloads is None:
            proposal.error = proposal.calls[-1].error
        else:
            self._sort(kind, payloads, classes, seen, proposal)
        return proposal

    def _propose_per_class(self, history: Sequence[ScoredText], seen: set[str], seed: int) -> Proposal:
        """Build one description set from one short request per class (for small models)."""
        proposal = Proposal("descriptions")
        per_class = descriptions_per_class(len(self.class_names))
        payload: dict[str, list[str]] = {}
        for index, name in enumerate(requested_classes("descriptions", self.class_names, seed)):
            messages = self.class_messages(name, class_history(history, name), per_class)
            sentences = self._ask(messages, sentences_schema(per_class), seed * 131 + index, "class_descriptions", proposal)
            if sentences is not None:
                payload[name] = sentences
        if not payload:
            proposal.error = proposal.calls[-1].error
            return proposal
        self._sort("descriptions", [payload], list(payload), seen, proposal)
        return proposal

    def class_messages(self, class_name: str, history: Sequence[ScoredText], count: int) -> list[dict[str, str]]:
        """Render the messages that request `count` description sentences for one class."""
        task = self.description or ("texts" if self.modality == "text" else "images")
        user = Template(load_meta_prompt(f"{self.modality}_class_descriptions")).substitute(
            task=task, class_name=class_name, history=format_history(history), count=count
        )
        return [{"role": "system", "content": load_meta_prompt("system").strip()}, {"role": "user", "content": user}]

    def _ask(self, messages, schema, seed: int, reply_kind: str, proposal: Proposal) -> list[Any] | None:
        """Send one request, retrying failed or unparseable calls; returns the parsed items or None."""
        for attempt in range(self.retries + 1):
            record = self._call(messages, schema, seed * 1009 + attempt, attempt)
            proposal.calls.append(record)
            if record.error is not None:
                continue
            try:
                return parse_reply(record.response or "", reply_kind)
            except LLMError as error:
                record.error = str(error)
                logger.warning("LLM reply for %s could not be parsed (attempt %d): %s", reply_kind, attempt + 1, error)
        return None

    def _call(self, messages, schema, seed: int, attempt: int) -> CallRecord:
        record = CallRecord(attempt=attempt, messages=messages, seed=seed)
        max_tokens = 64 + TOKENS_PER_STRING * _strings_in_reply(schema)
        try:
            reply = self.llm.complete(
                messages, schema=schema, temperature=self.temperature, max_tokens=max_tokens, seed=seed
            )
        except LLMError as error:
            record.error = str(error)
            logger.warning("LLM call failed (attempt %d): %s", attempt + 1, error)
            return record
        record.response = reply.text
        record.prompt_tokens = reply.prompt_tokens
        record.completion_tokens = reply.completion_tokens
        record.latency_s = reply.latency_s
        return record

    def _sort(self, kind: str, payloads: list[Any], classes: list[str], seen: set[str], proposal: Proposal) -> None:
        for payload in payloads:
            candidate = Candidate(kind, normalize_payload(kind, payload))
            reason = validate(candidate, self.class_names, classes)
            if reason is None and candidate.hash in seen:
                reason = "duplicate of an earlier candidate"
            if reason is not None:
                proposal.rejects.append((_as_text(payload), reason))
                continue
            seen.add(candidate.hash)
            proposal.candidates.append(candidate)


def _as_text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, sort_keys=True)


def format_history(history: Sequence[ScoredText]) -> str:
    """Show the worst and best past candidates, ascending, with integer scores (fitness x 100)."""
    if not history:
        return "(none yet)"
    ranked = sorted(history, key=lambda item: item.fitness)
    shown = ranked if len(ranked) <= HISTORY_BEST + HISTORY_WORST else ranked[:HISTORY_WORST] + ranked[-HISTORY_BEST:]
    lines = []
    for item in shown:
        text = item.text if len(item.text) <= HISTORY_ITEM_CHARS else item.text[: HISTORY_ITEM_CHARS - 3] + "..."
        lines.append(f"score {round(100 * item.fitness)}: {text}")
    return "\n".join(lines)


def parse_reply(text: str, kind: str) -> list[Any]:
    """Extract the list of payloads from a JSON reply; raises LLMError when there is none."""
    body = _strip_fences(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise LLMError(f"reply is not valid JSON ({error.msg} at character {error.pos}): {text[:120]!r}") from error
    key = REPLY_KEYS[kind]
    items = data.get(key) if isinstance(data, dict) else data
    if items is None:
        raise LLMError(f"reply has no {key!r} list: {text[:120]!r}")
    if isinstance(items, (str, dict)):
        items = [items]
    if not isinstance(items, list):
        raise LLMError(f"{key!r} in the reply is a {type(items).__name__}, not a list")
    return items


def _strip_fences(text: str) -> str:
    """Remove Markdown code fences and text around the outermost JSON object or list."""
    match = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    if match:
        text = match.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text.strip()
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    return text[start : end + 1] if end > start else text[start:]


def reply_schema(kind: str, class_names: Sequence[str], count: int) -> dict[str, Any]:
    """Return the JSON Schema of a reply. Local models are constrained to it by a grammar."""
    if kind == "template":
        item = {"type": "string", "pattern": TEMPLATE_PATTERN}
    elif kind == "names":
        item = _per_class_object(class_names, {"type": "string", "pattern": NAME_PATTERN})
    else:
        per_class = descriptions_per_class(len(class_names))
        sentence = {"type": "string", "pattern": SENTENCE_PATTERN}
        value = {"type": "array", "items": sentence, "minItems": per_class, "maxItems": per_class}
        item = _per_class_object(class_names, value)
    array = {"type": "array", "items": item, "minItems": count, "maxItems": count}
    key = REPLY_KEYS[kind]
    return {"type": "object", "properties": {key: array}, "required": [key], "additionalProperties": False}


def _per_class_object(class_names: Sequence[str], value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: value for name in class_names},
        "required": list(class_names),
        "additionalProperties": False,
    }
