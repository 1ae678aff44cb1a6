"""The history database: migrations, schema version and the rows it keeps."""

from __future__ import annotations

import sqlite3

import pytest

from agent.errors import StoreError
from agent.store import Store
from agent.store.migrations import SCHEMA_VERSION


def test_new_database_is_migrated(tmp_path):
    store = Store(tmp_path / "history.db")
    assert store.schema_version == SCHEMA_VERSION
    tables = set(store.db.table_names())
    assert {"runs", "steps", "candidates", "llm_calls", "ensembles", "evaluations", "score_cache"} <= tables
    rows = list(store.db["schema_migrations"].rows)
    assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))


def test_reopening_applies_nothing_twice(tmp_path):
    Store(tmp_path / "history.db").close()
    store = Store(tmp_path / "history.db")
    assert store.db["schema_migrations"].count == SCHEMA_VERSION


def test_newer_schema_is_rejected(tmp_path):
    Store(tmp_path / "history.db").close()
    connection = sqlite3.connect(tmp_path / "history.db")
    connection.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="schema version 999, newer than this tool's"):
        Store(tmp_path / "history.db")


def test_non_sqlite_file_is_rejected(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        Store(path)


def test_database_uses_wal(tmp_path):
    store = Store(tmp_path / "history.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_score_cache_round_trip(tmp_path):
    store = Store(tmp_path / "history.db")
    key = ("st:m", "sha256:x", "nmi", 0)
    store.cache_scores(key, {"sha256:a": 0.5, "sha256:b": 0.25})
    assert store.cached_scores(key, ["sha256:a", "sha256:c"]) == {"sha256:a": 0.5}
    assert store.cached_scores(("st:m", "sha256:x", "nmi", 1), ["sha256:a"]) == {}
