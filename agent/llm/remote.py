"""Hosted and local-server models through LiteLLM (OpenAI, Anthropic, Ollama and others).

API keys come from the environment variables LiteLLM reads (OPENAI_API_KEY and so on);
they are never stored or logged.
"""

from __future__ import annotations

import time
from typing import Any

from agent.errors import LLMError, ModelUnavailableError
from agent.llm import LLM, LLMReply


class LiteLLM(LLM):
    """Any model string LiteLLM accepts, asked for a JSON object reply."""

    def __init__(self, model: str, timeout_s: float = 120.0) -> None:
        self.model = model
        self.timeout_s = timeout_s

    @property
    def id(self) -> str:
        return f"litellm:{self.model}"

    def complete(self, messages, *, schema=None, temperature=0.8, max_tokens=1024, seed=0) -> LLMReply:
        try:
            import litellm
        except ImportError as error:
            raise ModelUnavailableError("litellm is not installed; run `pip install litellm`") from error
        options: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "timeout": self.timeout_s}
        if schema is not None:
            # A plain JSON-object request is the form most providers accept; the schema
            # itself is spelled out in the prompt text.
            options["response_format"] = {"type": "json_object"}
        # LiteLLM prints a provider banner on every failed call; the error is reported here instead.
        litellm.suppress_debug_info = True
        started = time.perf_counter()
        try:
            response = litellm.completion(model=self.model, messages=messages, seed=seed, drop_params=True, **options)
        except Exception as error:  # LiteLLM raises many provider-specific types; translate them all here.
            raise LLMError(f"{self.model} failed: {error.__class__.__name__}: {str(error)[:300]}") from error
        latency = time.perf_counter() - started
        usage = getattr(response, "usage", None)
        return LLMReply(
            text=response.choices[0].message.content or "",
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            latency_s=latency,
        )
