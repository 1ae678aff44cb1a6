"""The optimizer loop with a scripted LLM: stored rows, failures, pack, caches and labels."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from agent.data import load_dataset
from agent.errors import InputError, LLMError
from agent.features import FeatureCache
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.runner import run_optimizer
from agent.store import Store
from agent.targets import normalize_rows

CLASSES = ("sports", "weather", "cooking", "finance")
TEMPLATES = json.dumps({"templates": ["A news story about {}.", "{} report", "no placeholder here", "Today in {}:"]})
NAMES = json.dumps({"renamings": [{c: f"{c} news" for c in CLASSES}, {"sports": "games"}]})
DESCRIPTIONS = json.dumps({"descriptions": [{c: [f"Something about {c}.", f"More on {c}."] for c in CLASSES}]})


@pytest.fixture
def demo():
    return load_dataset("demo")


def run(demo, minilm, runs_dir, replies, steps=1, name="r", **kwargs):
    llm = ReplayLLM(replies)
    kwargs.setdefault("seed_templates", False)
    settings = Settings(steps=steps, candidates_per_step=4, seed=1, **kwargs)
    return run_optimizer(demo, target=minilm, llm=llm, settings=settings, runs_dir=runs_dir, run=name), llm


def test_valid_step_stores_rows(demo, minilm, tmp_path):
    result, llm = run(demo, minilm, tmp_path, [TEMPLATES, NAMES, DESCRIPTIONS])
    store = Store(result.database)
    run_row = store.run(result.run_id)
    assert run_row["status"] == "finished"
    assert run_row["class_names"] == list(CLASSES)
    assert run_row["seed"] == 1
    assert run_row["target_id"] == "st:all-MiniLM-L6-v2"
    assert run_row["llm_id"] == "replay"
    assert run_row["settings"]["steps"] == 1
    assert [s["step"] for s in store.steps(result.run_id)] == [0, 1]
    assert [s["status"] for s in store.steps(result.run_id)] == ["ok", "ok"]
    candidates = store.candidates(result.run_id)
    scored = [c for c in candidates if c["state"] == "scored"]
    rejected = [c for c in candidates if c["state"] == "rejected"]
    assert len(scored) == 2 + 3 + 1 + 1
    assert {c["source"] for c in scored} == {"baseline", "llm"}
    assert all(0.0 <= c["fitness"] <= 1.0 for c in scored)
    reasons = sorted(c["reason"] for c in rejected)
    assert len(rejected) == 2
    assert reasons[0].startswith("missing classes: weather")
    assert "placeholder" in reasons[1]
    assert len(store.llm_calls(result.run_id)) == 3
    assert len(llm.calls) == 3


def test_llm_calls_store_messages_and_usage(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, [TEMPLATES, NAMES, DESCRIPTIONS])
    call = Store(result.database).llm_calls(result.run_id)[0]
    messages = json.loads(call["messages"])
    assert call["kind"] == "template"
    assert messages[0]["role"] == "system"
    assert "sports, weather, cooking, finance" in messages[1]["content"]
    assert "score " in messages[1]["content"]
    assert call["response"] == TEMPLATES
    assert call["prompt_tokens"] > 0
    assert call["error"] is None


def test_history_in_meta_prompt_is_ascending(demo, minilm, tmp_path):
    result, llm = run(demo, minilm, tmp_path, [TEMPLATES, NAMES, DESCRIPTIONS], steps=2)
    prompt = llm.calls[3]["messages"][1]["content"]
    scores = [int(line.split(":")[0].split()[1]) for line in prompt.splitlines() if line.startswith("score ")]
    assert len(scores) == 4
    assert scores == sorted(scores)


def test_invalid_json_is_retried_then_step_fails(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, ["not json"], kinds=("template",))
    store = Store(result.database)
    calls = store.llm_calls(result.run_id)
    assert len(calls) == 3
    assert all("not valid JSON" in c["error"] for c in calls)
    step = store.steps(result.run_id)[1]
    assert step["status"] == "failed"
    assert "template" in step["error"]
    assert store.run(result.run_id)["status"] == "finished"
    assert result.pack["class_names"] == list(CLASSES)


def test_failing_llm_recorded_and_run_continues(demo, minilm, tmp_path):
    replies = [LLMError("connection refused"), LLMError("timed out"), LLMError("timed out"), TEMPLATES]
    result, llm = run(demo, minilm, tmp_path, replies, steps=2, kinds=("template",))
    store = Store(result.database)
    calls = store.llm_calls(result.run_id)
    assert [c["error"] for c in calls[:3]] == ["connection refused", "timed out", "timed out"]
    assert calls[3]["error"] is None
    assert [s["status"] for s in store.steps(result.run_id)] == ["ok", "failed", "ok"]
    assert len(store.candidates(result.run_id, state="scored")) == 2 + 3


def test_duplicates_rejected_by_hash(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, [TEMPLATES], steps=2, kinds=("template",))
    rejected = Store(result.database).candidates(result.run_id, state="rejected")
    assert sum(c["reason"] == "duplicate of an earlier candidate" for c in rejected) == 3


def test_pack_contents_match_run(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, [TEMPLATES, NAMES, DESCRIPTIONS])
    pack = json.loads(result.pack_path.read_text())
    assert pack["class_names"] == list(CLASSES)
    assert pack["target"] == "st:all-MiniLM-L6-v2"
    assert pack["fitness"]["value"] == pytest.approx(result.best_fitness)
    assert pack["provenance"]["seed"] == 1
    assert pack["provenance"]["run_name"] == "r"
    assert set(pack["class_prompts"]) == set(CLASSES)
    assert all(pack["class_prompts"][c] for c in CLASSES)
    assert [e["name"] for e in result.evaluations] == ["class names", "single template", "optimized"]
    assert pack["evaluation"]["optimized"]["accuracy"] == result.evaluations[2]["accuracy"]


def test_pack_prompts_reproduce_accuracy(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, [TEMPLATES, NAMES, DESCRIPTIONS])
    pack = result.pack
    features = FeatureCache(tmp_path).input_features(minilm, demo)
    rows = [minilm.encode_texts(pack["class_prompts"][c]).mean(axis=0) for c in pack["class_names"]]
    predictions = (features @ normalize_rows(np.stack(rows)).T).argmax(axis=1)
    accuracy = float((predictions == demo.labels).mean())
    assert accuracy == pytest.approx(result.evaluations[2]["accuracy"], abs=1e-9)


def test_second_run_hits_caches(demo, minilm, tmp_path):
    replies = [TEMPLATES, NAMES, DESCRIPTIONS]
    run(demo, minilm, tmp_path, replies, name="first")
    cache = FeatureCache(tmp_path)
    store = Store(tmp_path / "history.db")
    cached = store.db.execute("SELECT COUNT(*) FROM score_cache").fetchone()[0]
    result, _ = run(demo, minilm, tmp_path, replies, name="second")
    assert cache.input_features(minilm, demo).shape == (160, 384)
    assert cache.encoded_inputs == 0
    assert store.db.execute("SELECT COUNT(*) FROM score_cache").fetchone()[0] == cached
    assert result.best_fitness > 0


def test_labels_never_change_the_search(demo, minilm, tmp_path):
    replies = [TEMPLATES, NAMES, DESCRIPTIONS]
    shuffled = replace(demo, labels=np.random.default_rng(0).permutation(demo.labels))
    first, _ = run(demo, minilm, tmp_path / "a", replies)
    second, _ = run(shuffled, minilm, tmp_path / "b", replies)
    rows_a = Store(first.database).candidates(first.run_id)
    rows_b = Store(second.database).candidates(second.run_id)
    assert [(r["text"], r["fitness"]) for r in rows_a] == [(r["text"], r["fitness"]) for r in rows_b]
    assert first.pack["class_prompts"] == second.pack["class_prompts"]
    assert first.evaluations[2]["accuracy"] != second.evaluations[2]["accuracy"]


def test_existing_run_needs_resume(demo, minilm, tmp_path):
    run(demo, minilm, tmp_path, [TEMPLATES], kinds=("template",))
    with pytest.raises(InputError, match="already exists .* pass --resume"):
        run(demo, minilm, tmp_path, [TEMPLATES], kinds=("template",))


def test_resume_continues_after_last_step(demo, minilm, tmp_path):
    run(demo, minilm, tmp_path, [TEMPLATES], kinds=("template",))
    llm = ReplayLLM([json.dumps({"templates": ["Headline: {}", "{} story"]})])
    settings = Settings(steps=2, candidates_per_step=2, seed=1, kinds=("template",), seed_templates=False)
    result = run_optimizer(demo, target=minilm, llm=llm, settings=settings, runs_dir=tmp_path, run="r", resume=True)
    store = Store(result.database)
    assert [s["step"] for s in store.steps(result.run_id)] == [0, 1, 2]
    assert len(store.candidates(result.run_id, state="scored")) == 2 + 3 + 2
    assert len(llm.calls) == 1


def test_resume_keeps_stored_settings(demo, minilm, tmp_path):
    run(demo, minilm, tmp_path, [TEMPLATES], kinds=("template",))
    settings = Settings(steps=2, seed=2, fitness="confidence", kinds=("template",))
    result = run_optimizer(demo, target=minilm, llm=ReplayLLM([TEMPLATES]), settings=settings, runs_dir=tmp_path, run="r", resume=True)
    row = Store(result.database).run(result.run_id)
    assert result.seed == 1
    assert row["settings"]["seed"] == 1
    assert row["settings"]["steps"] == 2
    assert row["fitness_name"] != "confidence"


def test_resume_rejects_other_classes(demo, minilm, tmp_path):
    run(demo, minilm, tmp_path, [TEMPLATES], kinds=("template",))
    renamed = replace(demo, class_names=("sport", "weather", "cooking", "finance"))
    with pytest.raises(InputError, match="it was started with class names"):
        run_optimizer(renamed, target=minilm, llm=ReplayLLM([TEMPLATES]), settings=Settings(steps=2), runs_dir=tmp_path, run="r", resume=True)


def test_resume_unknown_run(demo, minilm, tmp_path):
    with pytest.raises(InputError, match="no run named 'ghost'"):
        run_optimizer(demo, target=minilm, llm=ReplayLLM([TEMPLATES]), runs_dir=tmp_path, run="ghost", resume=True)
    with pytest.raises(InputError, match="--resume needs --run"):
        run_optimizer(demo, target=minilm, llm=ReplayLLM([TEMPLATES]), runs_dir=tmp_path, resume=True)


def test_failed_run_is_marked(demo, minilm, tmp_path):
    class Broken(ReplayLLM):
        def complete(self, *args, **kwargs):
            raise RuntimeError("backend crashed")

    with pytest.raises(RuntimeError):
        run_optimizer(demo, target=minilm, llm=Broken(["x"]), settings=Settings(steps=1), runs_dir=tmp_path, run="boom")
    assert Store(tmp_path / "history.db").run_by_name("boom")["status"] == "failed"


def test_settings_stored_before_first_step(demo, minilm, tmp_path):
    class Broken(ReplayLLM):
        def complete(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_optimizer(demo, target=minilm, llm=Broken(["x"]), settings=Settings(steps=1, seed=5), runs_dir=tmp_path, run="cut")
    row = Store(tmp_path / "history.db").run_by_name("cut")
    assert row["status"] == "interrupted"
    assert row["settings"]["seed"] == 5
    assert row["class_names"] == list(CLASSES)


@pytest.mark.parametrize(
    "settings, message",
    [
        (Settings(steps=-1), "--steps must be 0 or more"),
        (Settings(candidates_per_step=0), "--candidates-per-step must be between 1 and 50"),
        (Settings(kinds=("tmpl",)), "invalid candidate kinds"),
        (Settings(fitness="accuracy"), "unknown fitness 'accuracy'"),
    ],
)
def test_invalid_settings(settings, message):
    with pytest.raises(InputError, match=message):
        settings.check()


def test_seed_templates_scored_at_step_zero(demo, minilm, tmp_path):
    result, _ = run(demo, minilm, tmp_path, [TEMPLATES], steps=0, seed_templates=True)
    rows = Store(result.database).candidates(result.run_id)
    seeds = [r["text"] for r in rows if r["source"] == "seed" and r["kind"] == "template"]
    names = [r["text"] for r in rows if r["source"] == "seed" and r["kind"] == "names"]
    assert len(seeds) == 9
    assert names == []
    assert "short news-style sentences about everyday topics about {}." in seeds
    assert all(r["state"] == "scored" for r in rows)
    assert all(r["step"] == 0 for r in rows)


@pytest.mark.parametrize(
    "name, expected",
    [("card_arrival", "card arrival"), ("getSpareCard", "get spare card"), ("top-up", "top up"), ("HUM", "HUM"), ("World", "world")],
)
def test_readable_name(name, expected):
    from agent.optimizer import readable_name

    assert readable_name(name) == expected


def test_best_fitness_never_decreases(demo, minilm, tmp_path):
    replies = [TEMPLATES, NAMES, DESCRIPTIONS, json.dumps({"templates": ["Sports weather cooking finance {}"]})]
    result, _ = run(demo, minilm, tmp_path, replies, steps=3, seed_templates=True)
    best = [s["best_fitness"] for s in Store(result.database).steps(result.run_id)]
    assert len(best) == 4
    assert best == sorted(best)
    assert result.best_fitness == best[-1]


def test_swapped_renaming_rejected(demo, minilm, tmp_path):
    swapped = {"sports": "weather", "weather": "sports", "cooking": "cooking", "finance": "finance"}
    renamings = json.dumps({"renamings": [swapped, {c: f"{c} news" for c in CLASSES}]})
    result, _ = run(demo, minilm, tmp_path, [renamings], kinds=("names",))
    rows = Store(result.database).candidates(result.run_id)
    by_text = {r["text"]: r for r in rows if r["source"] == "llm"}
    rejected = by_text[json.dumps(swapped, sort_keys=True, separators=(",", ":"))]
    kept = by_text[json.dumps({c: f"{c} news" for c in CLASSES}, sort_keys=True, separators=(",", ":"))]
    assert rejected["state"] == "rejected"
    assert rejected["reason"] == "the prompts for 'sports' are closer to the class name 'weather' than to 'sports'"
    assert kept["state"] == "scored"
    assert Store(result.database).steps(result.run_id)[1]["rejected"] == 1
