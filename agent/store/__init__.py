"""The history database: the only writer of runs, steps, candidates, LLM calls and evaluations.

One SQLite file (default `runs/history.db`) in WAL mode with a single writer per run.
The schema version is the highest row of `schema_migrations`; a database from a newer
version of this tool is rejected rather than guessed at.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from agent.errors import StoreError
from agent.store.migrations import MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Store:
    """Reads and writes one history database, applying pending migrations on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite_utils.Database(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path} is not a readable SQLite database ({error}); move it away or pass another --runs-dir") from error

    def close(self) -> None:
        self.db.close()

    @property
    def schema_version(self) -> int:
        if "schema_migrations" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def _migrate(self) -> None:
        if "schema_migrations" not in self.db.table_names():
            self.db["schema_migrations"].create({"version": int, "name": str, "applied_at": str}, pk="version")
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this tool's {SCHEMA_VERSION}; "
                "update this tool (git pull, then ./setup.sh) or pass another --runs-dir"
            )
        for version, name, migrate in MIGRATIONS:
            if version <= current:
                continue
            with self.db.conn:
                migrate(self.db)
                self.db["schema_migrations"].insert({"version": version, "name": name, "applied_at": now()})
            logger.info("applied migration %d (%s) to %s", version, name, self.path)

    # Runs

    def create_run(self, record: dict[str, Any]) -> int:
        row = {**record, "status": "running", "created_at": now()}
        for key in ("class_names", "settings"):
            row[key] = dumps(row[key])
        with self.db.conn:
            return self.db["runs"].insert(row).last_pk

    def run_by_name(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db["runs"].rows_where("name = ?", [name]))
        return _decode_run(rows[0]) if rows else None

    def run(self, run_id: int) -> dict[str, Any]:
        return _decode_run(self.db["runs"].get(run_id))

    def runs(self) -> list[dict[str, Any]]:
        return [_decode_run(row) for row in self.db["runs"].rows_where(order_by="id")]

    def update_run(self, run_id: int, **values: Any) -> None:
        with self.db.conn:
            self.db["runs"].update(run_id, values)

    # Steps, candidates, calls

    def save_step(self, run_id: int, step: int, **values: Any) -> None:
        with self.db.conn:
            existing = list(self.db["steps"].rows_where("run_id = ? AND step = ?", [run_id, step]))
            if existing:
                self.db["steps"].update(existing[0]["id"], values)
            else:
                self.db["steps"].insert({"run_id": run_id, "step": step, **values})

    def steps(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.db["steps"].rows_where("run_id = ?", [run_id], order_by="step"))

    def add_candidate(self, run_id: int, step: int, **values: Any) -> int:
        with self.db.conn:
            return self.db["candidates"].insert({"run_id": run_id, "step": step, "created_at": now(), **values}).last_pk

    def update_candidate(self, candidate_id: int, **values: Any) -> None:
        with self.db.conn:
            self.db["candidates"].update(candidate_id, values)

    def candidates(self, run_id: int, state: str | None = None) -> list[dict[str, Any]]:
        where, params = "run_id = ?", [run_id]
        if state is not None:
            where, params = where + " AND state = ?", params + [state]
        return list(self.db["candidates"].rows_where(where, params, order_by="id"))

    def add_llm_calls(self, run_id: int, step: int, kind: str, model: str, records: Iterable[Any]) -> None:
        rows = [
            {
                "run_id": run_id, "step": step, "kind": kind, "model": model, "attempt": r.attempt, "seed": r.seed,
                "messages": dumps(r.messages), "response": r.response, "error": r.error,
                "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                "latency_s": r.latency_s, "created_at": now(),
            }
            for r in records
        ]
        with self.db.conn:
            self.db["llm_calls"].insert_all(rows)

    def llm_calls(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.db["llm_calls"].rows_where("run_id = ?", [run_id], order_by="id"))

    def add_ensemble(self, run_id: int, step: int, members: list[int], weights: list[float], fitness: float, method: str) -> None:
        with self.db.conn:
            self.db["ensembles"].insert(
                {"run_id": run_id, "step": step, "members": dumps(members), "weights": dumps(weights),
                 "fitness": fitness, "method": method}
            )

    def ensembles(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.db["ensembles"].rows_where("run_id = ?", [run_id], order_by="id")
        return [{**r, "members": json.loads(r["members"]), "weights": json.loads(r["weights"])} for r in rows]

    def add_evaluation(self, run_id: int, evaluation: dict[str, Any]) -> None:
        row = {**evaluation, "run_id": run_id, "created_at": now()}
        row["per_class_recall"] = dumps(row["per_class_recall"])
        with self.db.conn:
            self.db["evaluations"].insert(row)

    def evaluations(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.db["evaluations"].rows_where("run_id = ?", [run_id], order_by="id")
        return [{**r, "per_class_recall": json.loads(r["per_class_recall"])} for r in rows]

    # Views (migration 2), for reports and the command line

    def find_run(self, name_or_id: str | int) -> dict[str, Any] | None:
        """Return the run named `name_or_id`, or the run with that id when it is all digits."""
        run = self.run_by_name(str(name_or_id))
        if run is None and str(name_or_id).isdigit():
            rows = list(self.db["runs"].rows_where("id = ?", [int(name_or_id)]))
            run = _decode_run(rows[0]) if rows else None
        return run

    def run_summaries(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM run_summaries ORDER BY run_id"))

    def run_summary(self, run_id: int) -> dict[str, Any]:
        return next(self.db.query("SELECT * FROM run_summaries WHERE run_id = ?", [run_id]))

    def candidate_scores(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM candidate_scores WHERE run_id = ? ORDER BY candidate_id", [run_id]))

    def ensemble_members(self, run_id: int, ensemble_id: int | None = None) -> list[dict[str, Any]]:
        """Members of every ensemble of the run, or of one ensemble, in selection order."""
        query = "SELECT * FROM ensemble_members WHERE run_id = ?"
        params: list[Any] = [run_id]
        if ensemble_id is not None:
            query, params = query + " AND ensemble_id = ?", params + [ensemble_id]
        return list(self.db.query(query + " ORDER BY ensemble_id, position", params))

    # Score cache

    def cached_scores(self, key: tuple[str, str, str, int], hashes: list[str]) -> dict[str, float]:
        found = {}
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT content_hash, fitness FROM score_cache WHERE target_id = ? AND inputs_hash = ? "
                f"AND fitness_name = ? AND seed = ? AND content_hash IN ({marks})"
            )
            found.update(dict(self.db.execute(query, [*key, *chunk]).fetchall()))
        return found

    def cache_scores(self, key: tuple[str, str, str, int], scores: dict[str, float]) -> None:
        target_id, inputs_hash, fitness_name, seed = key
        rows = [
            {"target_id": target_id, "inputs_hash": inputs_hash, "fitness_name": fitness_name, "seed": seed,
             "content_hash": h, "fitness": f}
            for h, f in scores.items()
        ]
        with self.db.conn:
            self.db["score_cache"].upsert_all(rows, pk=("target_id", "inputs_hash", "fitness_name", "seed", "content_hash"))


def _decode_run(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "class_names": json.loads(row["class_names"]), "settings": json.loads(row["settings"])}
