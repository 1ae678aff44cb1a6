"""The proposer: meta-prompt from `prompts/`, one LLM call, JSON parsing and validation."""

from __future__ import annotations

import json
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
MAX_MAPPED_CLASSES_PER_CALL = 24
REPLY_KEYS = {"template": "templates", "names": "renamings", "descriptions": "descriptions"}


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
    """What one request for candidates produced."""

    kind: str
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None


def load_meta_prompt(name: str) -> str:
    """Read `prompts/<name>.txt` as shipped in the package."""
    return resources.files("agent.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")


def request_count(kind: str, count: int, class_count: int) -> int:
    """How many candidates to ask for in one call, so that replies stay short."""
    if kind == "template":
        return count
    return max(1, min(count, MAX_MAPPED_CLASSES_PER_CALL // class_count))


def descriptions_per_class(class_count: int) -> int:
    return 2 if class_count <= 20 else 1


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

    def messages(self, kind: str, history: Sequence[ScoredText], count: int) -> list[dict[str, str]]:
        """Render the system and user messages for a request of `count` candidates."""
        limits = {"template": MAX_TEMPLATE_CHARS, "names": MAX_NAME_CHARS, "descriptions": MAX_DESCRIPTION_CHARS}
        task = self.description or ("texts" if self.modality == "text" else "images")
        user = Template(load_meta_prompt(f"{self.modality}_{kind}")).substitute(
            task=task,
            classes=", ".join(self.class_names),
            history=format_history(history),
            count=count,
            max_chars=limits[kind],
            per_class=descriptions_per_class(len(self.class_names)),
        )
        return [{"role": "system", "content": load_meta_prompt("system").strip()}, {"role": "user", "content": user}]

    def propose(self, kind: str, history: Sequence[ScoredText], count: int, seen: set[str], seed: int) -> Proposal:
        """Ask for `count` new candidates, retrying failed or unparseable calls.

        Valid candidates whose hash is in `seen` are rejected as duplicates; `seen` is
        updated with every accepted hash.
        """
        count = request_count(kind, count, len(self.class_names))
        messages = self.messages(kind, history, count)
        schema = reply_schema(kind, self.class_names, count)
        proposal = Proposal(kind)
        for attempt in range(self.retries + 1):
            record = self._call(messages, schema, seed * 1009 + attempt, attempt, count)
            proposal.calls.append(record)
            if record.error is not None:
                continue
            try:
                payloads = parse_reply(record.response or "", kind)
            except LLMError as error:
                record.error = str(error)
                logger.warning("LLM reply for %s could not be parsed (attempt %d): %s", kind, attempt + 1, error)
                continue
            self._sort(kind, payloads, seen, proposal)
            return proposal
        proposal.error = proposal.calls[-1].error
        return proposal

    def _call(self, messages, schema, seed: int, attempt: int, count: int) -> CallRecord:
        record = CallRecord(attempt=attempt, messages=messages, seed=seed)
        max_tokens = 120 * count + 60 * count * len(self.class_names)
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

    def _sort(self, kind: str, payloads: list[Any], seen: set[str], proposal: Proposal) -> None:
        for payload in payloads:
            candidate = Candidate(kind, normalize_payload(kind, payload))
            reason = validate(candidate, self.class_names)
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
    """The JSON Schema of a reply; local models are constrained to it by a grammar."""
    if kind == "template":
        item = {"type": "string", "pattern": "^[^{}]*\\{\\}[^{}]*$", "minLength": 4, "maxLength": MAX_TEMPLATE_CHARS}
    elif kind == "names":
        value = {"type": "string", "minLength": 1, "maxLength": 40}
        item = _per_class_object(class_names, value)
    else:
        sentence = {"type": "string", "minLength": 8, "maxLength": 120}
        per_class = descriptions_per_class(len(class_names))
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
