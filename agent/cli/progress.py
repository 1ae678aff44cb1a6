"""Terminal progress for the optimizer's events: a bar while encoding, a line per step."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Receives optimizer events (see Optimizer.on_event) and draws them on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if event == "encode":
            self._encode(info["done"], info["total"])
        elif event == "encode_end":
            self.close()
        elif event == "step":
            self._step(info)

    def _encode(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="encoding inputs", unit="input", file=sys.stderr)
        self._bar.n = done
        self._bar.refresh()

    def _step(self, info: dict[str, Any]) -> None:
        line = (
            f"step {info['step']}/{info['steps']}: {info.get('scored', 0)} scored, "
            f"{info.get('rejected', 0)} rejected, best fitness {info['best_fitness']:.4f}"
        )
        if info.get("status") == "failed":
            line += f" (LLM failed: {'; '.join(info.get('errors', []))[:200]})"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
