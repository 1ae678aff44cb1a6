"""Numbered, append-only schema migrations of the history database.

Each migration runs in one transaction together with its row in `schema_migrations`.
Never edit a released migration; add the next number instead.
"""

from __future__ import annotations

from typing import Callable

import sqlite_utils


def _initial_schema(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": int, "name": str, "status": str, "created_at": str, "finished_at": str,
            "dataset": str, "dataset_hash": str, "modality": str, "target_id": str, "llm_id": str,
            "fitness_name": str, "seed": int, "class_names": str, "description": str,
            "settings": str, "tool_version": str, "best_fitness": float,
        },
        pk="id", not_null={"name", "status", "created_at", "settings"},
    )
    db["runs"].create_index(["name"], unique=True)
    db["steps"].create(
        {
            "id": int, "run_id": int, "step": int, "status": str, "started_at": str, "finished_at": str,
            "proposed": int, "scored": int, "rejected": int, "failed": int, "best_fitness": float, "error": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db["steps"].create_index(["run_id", "step"], unique=True)
    db["candidates"].create(
        {
            "id": int, "run_id": int, "step": int, "kind": str, "text": str, "content_hash": str,
            "source": str, "state": str, "reason": str, "fitness": float, "created_at": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")], not_null={"run_id", "kind", "text", "state"},
    )
    db["candidates"].create_index(["run_id", "content_hash"])
    db["llm_calls"].create(
        {
            "id": int, "run_id": int, "step": int, "kind": str, "attempt": int, "model": str, "seed": int,
            "messages": str, "response": str, "error": str, "prompt_tokens": int, "completion_tokens": int,
            "latency_s": float, "created_at": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db["ensembles"].create(
        {"id": int, "run_id": int, "step": int, "members": str, "weights": str, "fitness": float, "method": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db["evaluations"].create(
        {
            "id": int, "run_id": int, "name": str, "accuracy": float, "balanced_accuracy": float,
            "per_class_recall": str, "inputs": int, "created_at": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    # Fitness values shared across runs: a candidate is scored once per target, inputs,
    # fitness function and clustering seed.
    db["score_cache"].create(
        {"target_id": str, "inputs_hash": str, "fitness_name": str, "seed": int, "content_hash": str, "fitness": float},
        pk=("target_id", "inputs_hash", "fitness_name", "seed", "content_hash"),
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "initial schema", _initial_schema),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
