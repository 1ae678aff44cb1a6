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


def _history_views(db: sqlite_utils.Database) -> None:
    """Views that join candidates, steps, ensembles and runs for ordinary SQLite tools."""
    db.execute(
        """
        CREATE VIEW IF NOT EXISTS candidate_scores AS
        SELECT c.id AS candidate_id, c.run_id, r.name AS run_name, c.step, s.status AS step_status,
               c.kind, c.text, c.source, c.state, c.reason, c.fitness,
               s.best_fitness AS step_best_fitness, c.created_at
        FROM candidates AS c
        JOIN runs AS r ON r.id = c.run_id
        LEFT JOIN steps AS s ON s.run_id = c.run_id AND s.step = c.step
        """
    )
    # ensembles.members and ensembles.weights are parallel JSON arrays of candidate ids and weights.
    db.execute(
        """
        CREATE VIEW IF NOT EXISTS ensemble_members AS
        SELECT e.id AS ensemble_id, e.run_id, r.name AS run_name, e.step, e.method,
               e.fitness AS ensemble_fitness, CAST(m.key AS INTEGER) AS position,
               m.value AS candidate_id, json_extract(e.weights, '$[' || m.key || ']') AS weight,
               c.kind, c.text, c.fitness AS candidate_fitness
        FROM ensembles AS e
        JOIN runs AS r ON r.id = e.run_id
        JOIN json_each(e.members) AS m
        JOIN candidates AS c ON c.id = m.value
        """
    )
    db.execute(
        """
        CREATE VIEW IF NOT EXISTS run_summaries AS
        SELECT r.id AS run_id, r.name, r.status, r.dataset, r.modality, r.target_id, r.llm_id,
               r.fitness_name, r.seed, r.created_at, r.finished_at, r.best_fitness,
               json_extract(r.settings, '$.steps') AS planned_steps,
               (SELECT MAX(s.step) FROM steps AS s
                WHERE s.run_id = r.id AND s.status IN ('ok', 'failed')) AS last_step,
               (SELECT COUNT(*) FROM candidates AS c WHERE c.run_id = r.id) AS candidates,
               (SELECT COUNT(*) FROM candidates AS c WHERE c.run_id = r.id AND c.state = 'scored') AS scored,
               (SELECT COUNT(*) FROM llm_calls AS l WHERE l.run_id = r.id) AS llm_calls,
               (SELECT SUM(l.prompt_tokens) FROM llm_calls AS l WHERE l.run_id = r.id) AS prompt_tokens,
               (SELECT SUM(l.completion_tokens) FROM llm_calls AS l WHERE l.run_id = r.id) AS completion_tokens,
               (SELECT v.accuracy FROM evaluations AS v
                WHERE v.run_id = r.id AND v.name = 'optimized' ORDER BY v.id DESC LIMIT 1) AS accuracy,
               (SELECT v.balanced_accuracy FROM evaluations AS v
                WHERE v.run_id = r.id AND v.name = 'optimized' ORDER BY v.id DESC LIMIT 1) AS balanced_accuracy
        FROM runs AS r
        """
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "initial schema", _initial_schema),
    (2, "history views", _history_views),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
