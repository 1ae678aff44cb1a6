"""Shared fixtures: the bundled MiniLM target and the shared evaluation data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("AGENT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 as a target; loaded once per test session."""
    from agent.targets import resolve_target

    return resolve_target("st:all-MiniLM-L6-v2", "text")


def shared_file(relative: str) -> Path:
    """Path of a file under the shared evaluation data, or skip the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"evaluation data not found at {path}; set AGENT_SHARED_DATA to the shared data folder")
    return path


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


needs_llama_cpp = pytest.mark.skipif(
    not llama_cpp_available(), reason="llama-cpp-python is not installed; run the setup command to build it"
)
