"""LLM backends behind one chat-completion interface.

Specs: `local` (the bundled SmolLM2 GGUF, run in-process by llama-cpp-python),
`local:/path/model.gguf`, `replay:/path/replies.json` (canned replies, for tests and
reproductions), or any LiteLLM model string such as `openai/gpt-4o-mini`.
Every backend returns an `LLMReply` or raises `LLMError`; callers never see provider errors.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from agent.errors import InputError

DEFAULT_LLM = "local"


@dataclass(frozen=True)
class LLMReply:
    """The text of one completion with its token counts and latency in seconds."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float


class LLM(abc.ABC):
    """A chat model that returns one completion per call."""

    prefers_short_requests = False
    """True for small models that handle one short request per class better than one long request."""

    @property
    @abc.abstractmethod
    def id(self) -> str:
        """Backend and model name, stored with every call."""

    @abc.abstractmethod
    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> LLMReply:
        """Return one completion, as JSON matching `schema` when one is given. Raises LLMError."""


def resolve_llm(spec: str | LLM | None) -> LLM:
    """Build the backend named by `spec` (see the module docstring)."""
    if isinstance(spec, LLM):
        return spec
    spec = spec or DEFAULT_LLM
    if spec == "local" or spec.startswith("local:"):
        from agent.llm.local import LocalLLM

        return LocalLLM(spec.partition(":")[2] or None)
    if spec.startswith("replay:"):
        from agent.llm.replay import ReplayLLM

        return ReplayLLM.from_file(spec.partition(":")[2])
    if "/" not in spec:
        raise InputError(
            f"invalid LLM {spec!r}; use 'local', 'local:/path/model.gguf', 'replay:FILE' "
            "or a LiteLLM model string such as openai/gpt-4o-mini"
        )
    from agent.llm.remote import LiteLLM

    return LiteLLM(spec)
