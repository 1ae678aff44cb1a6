"""The subcommands around the loop: runs, show, export, eval and report, and the SQLite views."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from agent.cli import main
from agent.data import load_dataset
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.runner import run_optimizer

CLASSES = ("sports", "weather", "cooking", "finance")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    llm = ReplayLLM([
        json.dumps({"templates": ["A news story about {}.", "Topic: {}."]}),
        json.dumps({"renamings": [{name: f"{name} news" for name in CLASSES}]}),
        json.dumps({"descriptions": [{name: [f"A sentence about {name}."] for name in CLASSES}]}),
    ])
    result = run_optimizer(load_dataset("demo"), target="st:all-MiniLM-L6-v2", llm=llm,
                           settings=Settings(steps=1, candidates_per_step=2), runs_dir=runs_dir, run="cli")
    return result, str(runs_dir)


def test_runs_table_lists_run(finished, capsys):
    _, runs_dir = finished
    assert main(["runs", "--runs-dir", runs_dir]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split()[:2] == ["cli", "finished"]


def test_runs_json_accuracy(finished, capsys):
    result, runs_dir = finished
    main(["runs", "--runs-dir", runs_dir, "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["accuracy"] == {e["name"]: e for e in result.evaluations}["optimized"]["accuracy"]


def test_runs_json_steps(finished, capsys):
    _, runs_dir = finished
    main(["runs", "--runs-dir", runs_dir, "--json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["last_step"], row["planned_steps"]) == (1, 1)


def test_show_llm_usage(finished, capsys):
    _, runs_dir = finished
    assert main(["show", "cli", "--runs-dir", runs_dir]) == 0
    assert "LLM calls: 3, tokens:" in capsys.readouterr().out


def test_show_best_ensemble(finished, capsys):
    result, runs_dir = finished
    main(["show", "cli", "--runs-dir", runs_dir])
    output = capsys.readouterr().out
    assert result.pack["members"][0]["text"] in output.split("best ensemble")[1]


def test_show_unknown_run_exit_code(finished, capsys):
    _, runs_dir = finished
    assert main(["show", "absent", "--runs-dir", runs_dir]) == 2
    assert "run 'absent' not found" in capsys.readouterr().err


def test_missing_database_exit_code(tmp_path, capsys):
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 2
    assert "no history database" in capsys.readouterr().err


def test_export_pack(finished, tmp_path):
    result, runs_dir = finished
    path = tmp_path / "pack.json"
    assert main(["export", "cli", "--runs-dir", runs_dir, "-o", str(path)]) == 0
    assert json.loads(path.read_text())["class_prompts"] == result.pack["class_prompts"]


def test_export_clip_benchmark(finished, tmp_path):
    result, runs_dir = finished
    path = tmp_path / "templates.json"
    main(["export", "cli", "--runs-dir", runs_dir, "--format", "clip-benchmark", "--benchmark-dataset", "news", "-o", str(path)])
    assert json.loads(path.read_text()) == {"news": result.pack["class_prompts"]}


def test_export_csv(finished, tmp_path):
    _, runs_dir = finished
    path = tmp_path / "prompts.csv"
    main(["export", "cli", "--runs-dir", runs_dir, "--format", "csv", "-o", str(path)])
    rows = list(csv.DictReader(path.open()))
    assert [row["class_name"] for row in rows][:1] == ["sports"]


def test_eval_json_matches_run(finished, tmp_path, capsys):
    result, _ = finished
    assert main(["eval", "--pack", str(result.pack_path), "--dataset", "demo", "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["accuracy"] == {e["name"]: e for e in result.evaluations}["optimized"]["accuracy"]


def test_eval_table_recall(finished, capsys):
    result, _ = finished
    main(["eval", "--pack", str(result.pack_path), "--dataset", "demo"])
    assert "recall per class:" in capsys.readouterr().out


def test_eval_unlabelled_dataset(finished, tmp_path, capsys):
    result, _ = finished
    data = tmp_path / "texts.csv"
    data.write_text("text\nIt rained.\nThe team won.\n")
    assert main(["eval", "--pack", str(result.pack_path), "--dataset", str(data)]) == 2
    assert "has no labels" in capsys.readouterr().err


def test_report_written(finished, tmp_path):
    _, runs_dir = finished
    path = tmp_path / "report.html"
    assert main(["report", "cli", "--runs-dir", runs_dir, "-o", str(path)]) == 0
    assert path.read_text().count('class="plot"') == 3


def test_view_candidate_scores(finished):
    _, runs_dir = finished
    with sqlite3.connect(f"{runs_dir}/history.db") as db:
        rows = db.execute("SELECT run_name, step_status FROM candidate_scores").fetchall()
    assert set(rows) == {("cli", "ok")}


def test_view_ensemble_members(finished):
    result, runs_dir = finished
    with sqlite3.connect(f"{runs_dir}/history.db") as db:
        texts = db.execute(
            "SELECT text FROM ensemble_members WHERE ensemble_id = (SELECT MAX(id) FROM ensembles) ORDER BY position"
        ).fetchall()
    assert [t[0] for t in texts] == [m["text"] for m in result.pack["members"]]


def test_schema_version_two(finished):
    _, runs_dir = finished
    with sqlite3.connect(f"{runs_dir}/history.db") as db:
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 2
