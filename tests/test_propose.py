"""Meta-prompts, reply parsing and candidate validation."""

from __future__ import annotations

import json

import pytest

from agent.candidates import Candidate, validate
from agent.errors import LLMError
from agent.llm.replay import ReplayLLM
from agent.propose import Proposer, ScoredText, format_history, load_meta_prompt, parse_reply, reply_schema

CLASSES = ["ABBR", "HUM"]


def test_every_meta_prompt_ships():
    for modality in ("text", "image"):
        for kind in ("template", "names", "descriptions"):
            assert "$history" in load_meta_prompt(f"{modality}_{kind}")
    assert "JSON" in load_meta_prompt("system")


def test_history_sorted_ascending_with_integer_scores():
    history = [ScoredText("b {}", 0.7), ScoredText("a {}", 0.123), ScoredText("c {}", 0.456)]
    assert format_history(history).splitlines() == ["score 12: a {}", "score 46: c {}", "score 70: b {}"]


def test_history_keeps_worst_and_best_five():
    history = [ScoredText(f"t{i} {{}}", i / 100) for i in range(20)]
    lines = format_history(history).splitlines()
    assert len(lines) == 10
    assert lines[0] == "score 0: t0 {}"
    assert lines[4] == "score 4: t4 {}"
    assert lines[5] == "score 15: t15 {}"
    assert lines[-1] == "score 19: t19 {}"


def test_history_empty():
    assert format_history([]) == "(none yet)"


def test_parse_reply_with_fences_and_prose():
    text = 'Sure! ```json\n{"templates": ["a {}", "b {}"]}\n``` hope it helps'
    assert parse_reply(text, "template") == ["a {}", "b {}"]


def test_parse_reply_bare_list():
    assert parse_reply('["x {}"]', "template") == ["x {}"]


@pytest.mark.parametrize("text, message", [("nothing", "not valid JSON"), ('{"other": []}', "no 'templates' list"), ('{"templates": 3}', "not a list")])
def test_parse_reply_errors(text, message):
    with pytest.raises(LLMError, match=message):
        parse_reply(text, "template")


@pytest.mark.parametrize(
    "candidate, reason",
    [
        (Candidate("template", "no placeholder"), "exactly once, found 0"),
        (Candidate("template", "{} and {}"), "exactly once, found 2"),
        (Candidate("template", "{}."), "no words besides the placeholder"),
        (Candidate("template", "x" * 200 + " {}"), "more than the limit of 160"),
        (Candidate("names", {"ABBR": "abbreviation"}), "missing classes: HUM"),
        (Candidate("names", {"ABBR": "a", "HUM": "h", "LOC": "l"}), "unknown classes: LOC"),
        (Candidate("names", {"ABBR": "", "HUM": "person"}), "class 'ABBR': name is empty"),
        (Candidate("descriptions", {"ABBR": [], "HUM": ["a person"]}), "non-empty list"),
        (Candidate("descriptions", {"ABBR": ["x", "x"], "HUM": ["a person"]}), "appears twice"),
    ],
)
def test_invalid_candidates(candidate, reason):
    assert reason in validate(candidate, CLASSES)


def test_valid_candidates():
    assert validate(Candidate("template", "A question about {}?"), CLASSES) is None
    assert validate(Candidate("names", {"ABBR": "abbreviation", "HUM": "person"}), CLASSES) is None
    assert validate(Candidate("descriptions", {"ABBR": ["What does NASA stand for?"], "HUM": ["Who wrote it?"]}), CLASSES) is None


def test_candidate_prompts_keep_class_order():
    names = Candidate("names", {"HUM": "person", "ABBR": "abbreviation"})
    assert names.prompts(CLASSES) == [["abbreviation"], ["person"]]
    assert Candidate("template", "about {} {{x}}").prompts(CLASSES) == [["about ABBR {{x}}"], ["about HUM {{x}}"]]


def test_hash_ignores_key_order():
    first = Candidate("names", {"ABBR": "a", "HUM": "h"})
    second = Candidate("names", {"HUM": "h", "ABBR": "a"})
    assert first.hash == second.hash
    assert first.hash.startswith("sha256:")


def test_schema_forces_placeholder_and_classes():
    template = reply_schema("template", CLASSES, 3)["properties"]["templates"]
    assert template["minItems"] == 3
    assert "\\{\\}" in template["items"]["pattern"]
    names = reply_schema("names", CLASSES, 1)["properties"]["renamings"]["items"]
    assert names["required"] == CLASSES


def test_proposer_normalizes_whitespace_and_dedupes():
    reply = json.dumps({"templates": ["  A   story about {}. ", "A story about {}.", "Z {}"]})
    proposer = Proposer(ReplayLLM([reply]), CLASSES, "text", "questions")
    seen = {Candidate("template", "Z {}").hash}
    proposal = proposer.propose("template", [], 3, seen, seed=0)
    assert [c.payload for c in proposal.candidates] == ["A story about {}."]
    assert [reason for _, reason in proposal.rejects] == ["duplicate of an earlier candidate"] * 2


def test_proposer_asks_fewer_mappings_for_many_classes():
    classes = [f"c{i}" for i in range(30)]
    reply = json.dumps({"renamings": [{c: c.upper() for c in classes}]})
    llm = ReplayLLM([reply])
    Proposer(llm, classes, "text", None).propose("names", [], 4, set(), seed=0)
    assert llm.calls[0]["schema"]["properties"]["renamings"]["maxItems"] == 1
    assert "Write 1 new renamings" in llm.calls[0]["messages"][1]["content"]


def test_replay_file_reply_forms(tmp_path):
    from agent.errors import InputError

    path = tmp_path / "replies.json"
    path.write_text(json.dumps(["text", {"templates": ["a {}"]}, {"error": "quota exceeded"}]), encoding="utf-8")
    llm = ReplayLLM.from_file(str(path))
    assert llm.complete([{"role": "user", "content": "x"}]).text == "text"
    assert json.loads(llm.complete([{"role": "user", "content": "x"}]).text) == {"templates": ["a {}"]}
    with pytest.raises(LLMError, match="quota exceeded"):
        llm.complete([{"role": "user", "content": "x"}])
    path.write_text("[1]", encoding="utf-8")
    with pytest.raises(InputError, match="reply 1 in .* is 1"):
        ReplayLLM.from_file(str(path))
