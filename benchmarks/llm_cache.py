"""A disk cache in front of an LLM backend, so baseline generations are paid for once.

Entries are keyed by a hash of the backend id, the messages, the schema, the sampling
settings and the sample index. The sample index is part of the key because without it
repeated samples of one request would all come back as the first one.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import LLMError
from agent.hashing import content_hash
from agent.llm import LLM, LLMReply

logger = logging.getLogger(__name__)


@dataclass
class Usage:
    """LLM calls made live and served from the cache, with their token counts.

    Tokens count every reply a result used: a cached reply adds the tokens it cost when
    it was generated, so the totals describe the method's price, not this run's.
    """

    live_calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> None:
        self.live_calls += other.live_calls
        self.cached_calls += other.cached_calls
        self.failed_calls += other.failed_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


class CachedLLM:
    """Wraps an `LLM`: returns stored replies for repeated requests and counts usage."""

    def __init__(self, llm: LLM, path: str | Path) -> None:
        self.llm = llm
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, llm_id TEXT NOT NULL, text TEXT NOT NULL, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL)"
        )

    @property
    def id(self) -> str:
        return self.llm.id

    def close(self) -> None:
        self._db.close()

    def complete(
        self,
        messages: list[dict[str, str]],
        usage: Usage,
        *,
        sample: int,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.8,
        max_tokens: int = 512,
    ) -> LLMReply:
        """Return the reply for this request and sample index, calling the LLM only on a miss.

        The sample index doubles as the backend's seed. Raises LLMError like the backend;
        failed calls are counted in `usage` and never cached.
        """
        key = content_hash([self.llm.id, messages, schema, temperature, max_tokens, sample])
        row = self._db.execute(
            "SELECT text, prompt_tokens, completion_tokens, latency_s FROM replies WHERE key = ?", [key]
        ).fetchone()
        if row is not None:
            usage.cached_calls += 1
            reply = LLMReply(text=row[0], prompt_tokens=row[1], completion_tokens=row[2], latency_s=row[3])
        else:
            usage.live_calls += 1
            try:
                reply = self.llm.complete(
                    messages, schema=schema, temperature=temperature, max_tokens=max_tokens, seed=sample
                )
            except LLMError:
                usage.failed_calls += 1
                raise
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
                    [key, self.llm.id, reply.text, reply.prompt_tokens, reply.completion_tokens, reply.latency_s],
                )
        usage.prompt_tokens += reply.prompt_tokens or 0
        usage.completion_tokens += reply.completion_tokens or 0
        return reply
