"""Short real runs with the bundled SmolLM2 (llama-cpp-python) and the bundled MiniLM."""

from __future__ import annotations

import json

import pytest
from conftest import needs_llama_cpp, shared_file

from agent.data import load_dataset
from agent.llm import resolve_llm
from agent.optimizer import Settings
from agent.propose import parse_reply, reply_schema
from agent.runner import run_optimizer
from agent.store import Store

pytestmark = needs_llama_cpp


@pytest.fixture(scope="module")
def smollm():
    return resolve_llm("local")


def test_grammar_reply_parses(smollm):
    schema = reply_schema("template", ["World", "Sports"], 2)
    messages = [{"role": "user", "content": 'Write 2 templates with {} for news topics. Reply as JSON: {"templates": [...]}'}]
    reply = smollm.complete(messages, schema=schema, temperature=0.7, max_tokens=200, seed=3)
    templates = parse_reply(reply.text, "template")
    assert len(templates) == 2
    assert all(t.count("{}") == 1 for t in templates)
    assert reply.completion_tokens > 0
    assert reply.prompt_tokens > 0


def test_same_seed_same_reply(smollm):
    messages = [{"role": "user", "content": "Name a colour as JSON."}]
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 20}}, "required": ["colour"]}
    first = smollm.complete(messages, schema=schema, temperature=1.0, max_tokens=30, seed=11)
    second = smollm.complete(messages, schema=schema, temperature=1.0, max_tokens=30, seed=11)
    assert first.text == second.text


def test_real_run_on_ag_news_sample(smollm, minilm, tmp_path):
    dataset = load_dataset(shared_file("text/ag_news/test.csv"), max_inputs=200, seed=0, description="news articles")
    settings = Settings(steps=1, candidates_per_step=2, seed=0)
    result = run_optimizer(dataset, target=minilm, llm=smollm, settings=settings, runs_dir=tmp_path, run="real")
    store = Store(result.database)
    calls = store.llm_calls(result.run_id)
    scored_by_llm = [c for c in store.candidates(result.run_id, state="scored") if c["source"] == "llm"]
    assert len(calls) >= 3
    assert calls[0]["model"] == "local:" + smollm.path.name
    assert all(c["completion_tokens"] for c in calls if c["error"] is None)
    assert len(scored_by_llm) >= 1
    assert result.pack_path.exists()
    assert json.loads(result.pack_path.read_text())["class_names"] == ["Business", "Sci/Tech", "Sports", "World"]
    optimized = result.evaluations[2]
    assert optimized["name"] == "optimized"
    assert 0.25 <= optimized["accuracy"] <= 1.0
    assert result.best_fitness >= store.candidates(result.run_id, state="scored")[0]["fitness"]
