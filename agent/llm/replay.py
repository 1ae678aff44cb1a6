"""A backend that returns canned replies in order: for tests and for replaying a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from agent.errors import InputError, LLMError
from agent.llm import LLM, LLMReply


class ReplayLLM(LLM):
    """Returns `replies` one per call; an Exception instance in the list is raised instead.

    After the last reply it starts again from the first. `calls` keeps every request.
    """

    def __init__(
        self, replies: Sequence[str | Exception], name: str = "replay", prefers_short_requests: bool = False
    ) -> None:
        if not replies:
            raise InputError("a replay LLM needs at least one reply")
        self.replies = list(replies)
        self.name = name
        self.calls: list[dict[str, Any]] = []
        self.prefers_short_requests = prefers_short_requests

    @classmethod
    def from_file(cls, path: str) -> "ReplayLLM":
        """Load a JSON list of replies: strings, JSON objects (sent as their text) or {"error": "message"}."""
        file = Path(path)
        if not file.is_file():
            raise InputError(f"replay file not found: {path}; pass a JSON list of reply strings")
        try:
            items = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise InputError(f"replay file {path} is not valid JSON: {error.msg}") from error
        if not isinstance(items, list):
            raise InputError(f"replay file {path} must hold a JSON list of replies")
        return cls([_reply(item, path, position) for position, item in enumerate(items, start=1)], name=f"replay:{file.name}")

    @property
    def id(self) -> str:
        return self.name

    def complete(self, messages, *, schema=None, temperature=0.8, max_tokens=1024, seed=0) -> LLMReply:
        self.calls.append({"messages": messages, "schema": schema, "seed": seed})
        reply = self.replies[(len(self.calls) - 1) % len(self.replies)]
        if isinstance(reply, Exception):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return LLMReply(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(text.split()), latency_s=0.0)


def _reply(item: object, path: str, position: int) -> str | Exception:
    if isinstance(item, dict) and set(item) == {"error"}:
        return LLMError(str(item["error"]))
    if isinstance(item, dict):
        return json.dumps(item)
    if isinstance(item, str):
        return item
    raise InputError(f"reply {position} in {path} is {item!r}; use a string, a JSON object or {{\"error\": \"message\"}}")
