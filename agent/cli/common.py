"""Options and helpers shared by the subcommands that read the history database."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.errors import InputError
from agent.runner import DEFAULT_RUNS_DIR
from agent.store import Store


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR, help=f"folder of the history database (default: {DEFAULT_RUNS_DIR})")


def open_store(runs_dir: str) -> Store:
    """Open `<runs_dir>/history.db`, which must exist: reading never creates an empty database."""
    path = Path(runs_dir) / "history.db"
    if not path.is_file():
        raise InputError(f"no history database at {path}; run `optimize --dataset X` first or pass --runs-dir")
    return Store(path)


def number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
