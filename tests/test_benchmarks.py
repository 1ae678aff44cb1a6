"""The benchmark's baseline methods on tiny hand-made matrices and a scripted LLM.

These tests cover the functions only; the benchmark run itself (`python -m
benchmarks.compare`) takes tens of minutes and is not part of the test suite.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

# benchmarks/ is a folder of the repository, not part of the installed package.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agent.errors import LLMError  # noqa: E402
from agent.llm.replay import ReplayLLM  # noqa: E402
from agent.targets import normalize_rows  # noqa: E402
from benchmarks import baselines, report  # noqa: E402
from benchmarks.compare import DatasetReport, MethodResult  # noqa: E402
from benchmarks.llm_cache import CachedLLM, Usage  # noqa: E402

CLASSES = ("sports", "finance")


def fake_embed(texts):
    """Unit vectors in 8 dimensions drawn from a seed derived from each text."""
    rows = []
    for text in texts:
        seed = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)
        rows.append(np.random.default_rng(seed).normal(size=8))
    return normalize_rows(np.stack(rows))


def reply(key, items):
    return json.dumps({key: items})


# Class matrices


def test_mean_similarity_matrix_gives_mean_cosine():
    per_class = [fake_embed(["a", "b", "c"]), fake_embed(["d", "e"])]
    features = fake_embed(["x", "y", "z"])
    matrix = baselines.mean_similarity_matrix(per_class)
    expected = np.stack([(features @ vectors.T).mean(axis=1) for vectors in per_class], axis=1)
    np.testing.assert_allclose(features @ matrix.T, expected, rtol=1e-5, atol=1e-6)


def test_mean_similarity_differs_from_normalised_mean():
    # Class 0's two prompts point apart, so its mean is short; normalising it would let it win.
    per_class = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.8, 0.6]])]
    feature = np.array([[0.6, 0.8]])
    normalised = baselines.mean_embedding_matrix(per_class)
    similarity = baselines.mean_similarity_matrix(per_class)
    assert (feature @ normalised.T).argmax() == 0
    assert (feature @ similarity.T).argmax() == 1


def test_mean_embedding_matrix_has_unit_rows():
    matrix = baselines.mean_embedding_matrix([fake_embed(["a", "b"]), fake_embed(["c"])])
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)


def test_template_prompts_fill_every_class():
    prompts = baselines.template_prompts(["About {}.", "{} news"], CLASSES)
    assert prompts == [["About sports.", "sports news"], ["About finance.", "finance news"]]


def test_descriptor_prompts_format():
    descriptors = {"sports": ["which has scores", "  mentions   teams "], "finance": []}
    prompts = baselines.descriptor_prompts(descriptors, CLASSES)
    assert prompts[0] == ["sports, which has scores", "sports, which mentions teams"]
    assert prompts[1] == ["finance"]


# WaffleCLIP


def test_waffle_descriptors_are_seeded():
    words = ["apple", "river", "stone", "cloud", "lamp"]
    first = baselines.waffle_descriptors(3, words, 6)
    assert first == baselines.waffle_descriptors(3, words, 6)
    assert first != baselines.waffle_descriptors(4, words, 6)


def test_waffle_descriptors_alternate_words_and_characters():
    words = ["apple", "river", "stone", "cloud", "lamp"]
    descriptors = baselines.waffle_descriptors(0, words, 4)
    assert len(descriptors) == 4
    for pair, characters in zip(descriptors[0::2], descriptors[1::2]):
        assert all(word in words for word in pair.split())
        assert len(characters) == len(pair)
        assert " " not in characters


def test_waffle_descriptors_without_words():
    descriptors = baselines.waffle_descriptors(0, [], 3)
    assert [len(d) for d in descriptors] == [12, 12, 12]


def test_waffle_prompts_share_descriptors():
    prompts = baselines.waffle_prompts(["red lamp", "x1y2"], CLASSES)
    assert prompts[0] == ["sports, which has red lamp.", "sports, which has x1y2."]
    assert [p.replace("finance", "sports") for p in prompts[1]] == prompts[0]


# ZPE


def test_zpe_scores_match_formula():
    features = fake_embed([f"input {i}" for i in range(6)])
    matrices = np.stack([fake_embed(["p0 a", "p0 b"]), fake_embed(["p1 a", "p1 b"])])
    scores = baselines.zpe_scores(features, matrices, logit_scale=20.0)
    for score, matrix in zip(scores, matrices):
        logits = 20.0 * features @ matrix.T
        assert score == pytest.approx((logits - logits.mean(axis=0)).max(axis=1).mean())


def test_zpe_prefers_separating_prompt():
    features = normalize_rows(np.array([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-0.1, 1.0]]))
    separating = normalize_rows(np.array([[1.0, 0.0], [0.0, 1.0]]))
    collapsed = normalize_rows(np.array([[1.0, 1.0], [1.0, 0.9]]))
    scores = baselines.zpe_scores(features, np.stack([separating, collapsed]), logit_scale=20.0)
    weights = baselines.zpe_weights(scores)
    assert scores[0] > scores[1]
    assert weights[0] > weights[1]
    assert weights.sum() == pytest.approx(1.0)


def test_weighted_matrix_one_hot_returns_prompt():
    matrices = np.stack([fake_embed(["a", "b"]), fake_embed(["c", "d"])])
    matrix = baselines.weighted_matrix(matrices, np.array([0.0, 1.0]))
    np.testing.assert_allclose(matrix, matrices[1], rtol=1e-5, atol=1e-6)


def test_cupl_slot_matrices_fill_missing_sentence():
    sentences = {"sports": [["s1", "s2"]], "finance": [["f1"]]}
    matrices = baselines.cupl_slot_matrices(fake_embed, sentences, CLASSES)
    assert matrices.shape == (2, 2, 8)
    np.testing.assert_allclose(matrices[1, 0], fake_embed(["s2"])[0], rtol=1e-5)
    np.testing.assert_allclose(matrices[1, 1], fake_embed(["f1"])[0], rtol=1e-5)


# LLM generations and the cache


def test_parse_string_list_cleans_reply():
    text = 'Sure: {"sentences": ["One  goal.", "One goal.", "", 3, "Two"]} done'
    assert baselines.parse_string_list(text, "sentences") == ["One goal.", "Two"]


def test_parse_string_list_rejects_missing_key():
    with pytest.raises(LLMError):
        baselines.parse_string_list('{"other": []}', "sentences")


def test_generate_cupl_caches_replies(tmp_path):
    replay = ReplayLLM([reply("sentences", ["A match report.", "The final score.", "A goal."])])
    cached = CachedLLM(replay, tmp_path / "llm.db")
    sentences, usage = baselines.generate_cupl(cached, CLASSES, "text", "news", per_call=3, samples=2)
    assert len(sentences["sports"]) == 4  # 2 questions x 2 samples
    assert sentences["finance"][0] == ["A match report.", "The final score.", "A goal."]
    assert (usage.live_calls, usage.cached_calls) == (8, 0)
    again, cached_usage = baselines.generate_cupl(cached, CLASSES, "text", "news", per_call=3, samples=2)
    assert again == sentences
    assert (cached_usage.live_calls, cached_usage.cached_calls) == (0, 8)
    assert cached_usage.tokens == usage.tokens
    assert len(replay.calls) == 8
    cached.close()


def test_cached_llm_keys_by_sample(tmp_path):
    replay = ReplayLLM(["first", "second"])
    cached = CachedLLM(replay, tmp_path / "llm.db")
    usage = Usage()
    messages = [{"role": "user", "content": "hi"}]
    assert cached.complete(messages, usage, sample=0).text == "first"
    assert cached.complete(messages, usage, sample=1).text == "second"
    assert cached.complete(messages, usage, sample=0).text == "first"
    assert (usage.live_calls, usage.cached_calls) == (2, 1)
    cached.close()


def test_ask_list_retries_unparseable_reply(tmp_path):
    replay = ReplayLLM(["not json", reply("features", ["is fast"])])
    cached = CachedLLM(replay, tmp_path / "llm.db")
    usage = Usage()
    items = baselines.ask_list(cached, [{"role": "user", "content": "x"}], "features", 1, 0, usage)
    assert items == ["is fast"]
    assert (usage.live_calls, usage.failed_calls) == (2, 1)
    assert replay.calls[1]["seed"] == baselines.RETRY_SAMPLE_OFFSET
    cached.close()


def test_ask_list_backend_errors_are_not_cached(tmp_path):
    replay = ReplayLLM([LLMError("down"), LLMError("down"), reply("features", ["is fast"])])
    cached = CachedLLM(replay, tmp_path / "llm.db")
    usage = Usage()
    messages = [{"role": "user", "content": "x"}]
    assert baselines.ask_list(cached, messages, "features", 1, 0, usage) == []
    assert (usage.live_calls, usage.failed_calls) == (2, 2)
    assert baselines.ask_list(cached, messages, "features", 1, 0, usage) == ["is fast"]
    assert usage.live_calls == 3
    cached.close()


def test_generate_descriptors_one_call_per_class(tmp_path):
    replay = ReplayLLM([reply("features", ["has a ball", "has teams"])])
    cached = CachedLLM(replay, tmp_path / "llm.db")
    descriptors, usage = baselines.generate_descriptors(cached, CLASSES, "text", None, count=2)
    assert descriptors == {"sports": ["has a ball", "has teams"], "finance": ["has a ball", "has teams"]}
    assert usage.live_calls == 2
    assert "Class: finance" in replay.calls[1]["messages"][1]["content"]
    cached.close()


# Report


def dataset_report(optimizer_accuracies, names_accuracy=0.5):
    results = [MethodResult(f"row {i}", [names_accuracy + 0.01 * i], [0.5], Usage(), 1.0) for i in range(7)]
    results.append(MethodResult("optimizer", list(optimizer_accuracies), [0.5] * 3, Usage(), 3.0))
    return DatasetReport("set", "set.csv", 10, 10, CLASSES, None, True, 0.1, results)


def test_summarize_beats_all():
    summary = report.summarize(dataset_report([0.70, 0.72, 0.74]))
    assert summary["beats_all"]
    assert summary["gain"] == pytest.approx(0.22)
    assert summary["best"] == "row 6"


def test_verdict_says_when_goal_missed():
    summaries = [report.summarize(dataset_report([0.52, 0.52, 0.52])) for _ in range(5)]
    text = report.verdict(summaries)
    assert "beats every row 1 to 7 on 0 of 5 sets" in text
    assert "does not meet the goal" in text
