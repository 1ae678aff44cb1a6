"""The `optimize` command: output, exit status and one-line errors."""

from __future__ import annotations

import json

import pytest

from agent.cli import main

TEMPLATES = json.dumps({"templates": ["A news story about {}.", "{} report"]})


@pytest.fixture
def replay_file(tmp_path):
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([TEMPLATES, {"error": "rate limited"}]), encoding="utf-8")
    return path


def test_demo_run_prints_accuracy_table(tmp_path, replay_file, capsys):
    code = main(["--dataset", "demo", "--llm", f"replay:{replay_file}", "--steps", "1", "--kinds", "template",
                 "--runs-dir", str(tmp_path), "--run", "cli"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "class names" in out
    assert "single template" in out
    assert "optimized" in out
    assert f"pack: {tmp_path / 'cli' / 'pack.json'}" in out
    assert "step 1/1: 2 scored, 0 rejected" in err
    assert (tmp_path / "history.db").exists()


def test_unlabelled_dataset_reports_no_accuracy(tmp_path, replay_file, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "it rained all day"}\n{"text": "the match ended 2-1"}\n', encoding="utf-8")
    code = main(["--dataset", str(data), "--classes", "weather,sports", "--llm", f"replay:{replay_file}",
                 "--steps", "0", "--runs-dir", str(tmp_path), "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "no labels: accuracy not reported" in out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--dataset", "missing.csv"], "error: dataset file not found: missing.csv"),
        (["--dataset", "demo", "--classes", "a,a"], "error: class name 'a' appears twice in --classes"),
        (["--dataset", "demo", "--max-inputs", "0"], "error: --max-inputs must be at least 1"),
        (["--dataset", "demo", "--llm", "gpt4"], "error: invalid LLM 'gpt4'"),
        (["--dataset", "demo", "--target", "bert"], "error: invalid target 'bert'"),
        (["--dataset", "demo", "--steps", "-2"], "error: --steps must be 0 or more"),
        (["--dataset", "demo", "--run", "bad name!"], "error: invalid run name 'bad name!'"),
    ],
)
def test_bad_input_exits_2_with_one_line(arguments, message, tmp_path, capsys):
    code = main(arguments + ["--runs-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith(message)
    assert "Traceback" not in err


def test_help_lists_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out, _ = capsys.readouterr()
    assert exit_info.value.code == 0
    assert "--candidates-per-step" in out
    assert "(default: 3)" in out


def test_all_llm_steps_failed_exits_1(tmp_path, capsys):
    replies = tmp_path / "errors.json"
    replies.write_text(json.dumps([{"error": "invalid API key"}]), encoding="utf-8")
    code = main(["--dataset", "demo", "--llm", f"replay:{replies}", "--steps", "1", "--kinds", "template",
                 "--runs-dir", str(tmp_path), "--run", "nokey", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "every LLM request failed in all 1 steps" in err


@pytest.mark.parametrize("runs_dir_kind", ["file", "inside_file"])
def test_unusable_runs_dir_exits_2(tmp_path, replay_file, capsys, runs_dir_kind):
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    runs_dir = blocker if runs_dir_kind == "file" else blocker / "sub"
    code = main(["--dataset", "demo", "--llm", f"replay:{replay_file}", "--steps", "0", "--runs-dir", str(runs_dir)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: cannot use")
    assert "Traceback" not in err


def test_invalid_device_exits_2(tmp_path, replay_file, capsys):
    code = main(["--dataset", "demo", "--llm", f"replay:{replay_file}", "--steps", "0", "--device", "tpu", "--runs-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "invalid --device 'tpu'" in err


def test_classes_file_with_bom(tmp_path, replay_file, capsys):
    classes = tmp_path / "classes.txt"
    classes.write_bytes("\ufeffsports\nweather\ncooking\nfinance\n".encode("utf-8"))
    code = main(["--dataset", "demo", "--classes-file", str(classes), "--llm", f"replay:{replay_file}", "--steps", "0",
                 "--runs-dir", str(tmp_path), "--quiet"])
    assert code == 0
