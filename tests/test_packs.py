"""Packs: validation, round trips through export and load, and the exporters."""

from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pytest

from agent.candidates import Candidate
from agent.cli import main
from agent.data.demo import demo_texts
from agent.data.objects import dataset_from_objects
from agent.errors import InputError
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.packs import build_pack, load_pack, validate_pack, write_export, write_pack, Pack
from agent.runner import run_optimizer

CLASSES = ("sports", "weather", "cooking", "finance")
TINY_CLIP = "agent-test-tiny-clip"


def replay_llm() -> ReplayLLM:
    return ReplayLLM([
        json.dumps({"templates": ["A news story about {}.", "Topic: {}."]}),
        json.dumps({"renamings": [{name: f"{name} news" for name in CLASSES}]}),
        json.dumps({"descriptions": [{name: [f"A sentence about {name}.", f"More on {name}."] for name in CLASSES}]}),
    ])


def noisy_demo():
    """The demo texts with every seventh label moved to the next class, so accuracy is below 1."""
    texts, names = demo_texts()
    labels = [CLASSES.index(name) for name in names]
    labels = [(label + 1) % 4 if i % 7 == 0 else label for i, label in enumerate(labels)]
    return texts, labels


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    texts, labels = noisy_demo()
    dataset = dataset_from_objects(texts, CLASSES, labels=labels, name="noisy-demo")
    result = run_optimizer(
        dataset, target="st:all-MiniLM-L6-v2", llm=replay_llm(),
        settings=Settings(steps=1, candidates_per_step=2), runs_dir=runs_dir, run="packs",
    )
    return result, runs_dir


@pytest.fixture()
def pack_dict():
    members = [
        (Candidate("template", "a photo of a {}."), 2.0, 0.5),
        (Candidate("descriptions", {"cat": ["It purrs.", "It has whiskers."], "dog": ["It barks."]}), 1.0, 0.4),
    ]
    return build_pack(
        target_id="clip:test/none", modality="image", class_names=["cat", "dog"], members=members,
        fitness_name="nmi_aligned", fitness_value=0.6, evaluation=None,
        provenance={"run_id": 1, "run_name": "unit", "seed": 0, "llm": "replay", "tool_version": "0.1.0"},
    )


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    folder = tmp_path_factory.mktemp("clip-config")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    }
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP, pretrained=None)
    model.eval()
    return model, open_clip.get_tokenizer(TINY_CLIP), preprocess


# Round trips


def test_stored_accuracy_below_one(finished_run):
    result, _ = finished_run
    stored = {e["name"]: e for e in result.evaluations}["optimized"]
    assert 0.5 < stored["accuracy"] < 1.0


def test_round_trip_reproduces_accuracy(finished_run, tmp_path):
    result, runs_dir = finished_run
    path = tmp_path / "pack.json"
    assert main(["export", "packs", "--runs-dir", str(runs_dir), "-o", str(path)]) == 0
    texts, labels = noisy_demo()
    evaluation = load_pack(path).evaluate(texts, labels)
    stored = {e["name"]: e for e in result.evaluations}["optimized"]
    assert evaluation.accuracy == stored["accuracy"]
    assert evaluation.balanced_accuracy == stored["balanced_accuracy"]
    assert evaluation.per_class_recall == stored["per_class_recall"]


def test_round_trip_classifies_by_name(finished_run):
    result, _ = finished_run
    pack = load_pack(result.pack_path)
    predictions = pack.classify(["Heavy snow closed the mountain roads.", "The striker scored twice."])
    assert predictions == ["weather", "sports"]


def test_exported_pack_equals_run_pack(finished_run, tmp_path):
    result, runs_dir = finished_run
    path = tmp_path / "pack.json"
    main(["export", "packs", "--runs-dir", str(runs_dir), "--format", "pack", "-o", str(path)])
    exported = json.loads(path.read_text())
    assert exported["class_prompts"] == result.pack["class_prompts"]
    assert exported["members"] == result.pack["members"]
    assert exported["provenance"]["created_at"] is not None


def test_written_run_pack_validates(finished_run):
    result, _ = finished_run
    assert load_pack(result.pack_path).class_names == CLASSES


# Validation


def test_pack_dict_validates(pack_dict):
    validate_pack(pack_dict)


def test_duplicate_class_rejected(pack_dict):
    pack_dict["class_names"] = ["cat", "cat"]
    with pytest.raises(InputError, match="'cat' appears twice"):
        validate_pack(pack_dict)


def test_missing_class_rejected(pack_dict):
    del pack_dict["class_prompts"]["dog"]
    with pytest.raises(InputError, match="class_prompts .* no entry for class 'dog'"):
        validate_pack(pack_dict)


def test_extra_class_rejected(pack_dict):
    pack_dict["class_prompts"]["bird"] = ["a bird"]
    with pytest.raises(InputError, match="entry for 'bird'"):
        validate_pack(pack_dict)


def test_reordered_classes_rejected(pack_dict):
    pack_dict["class_prompts"] = {"dog": pack_dict["class_prompts"]["dog"], "cat": pack_dict["class_prompts"]["cat"]}
    with pytest.raises(InputError, match="lists class 'dog' at position 1 where class_names has 'cat'"):
        validate_pack(pack_dict)


def test_reordered_descriptions_rejected(pack_dict):
    pack_dict["descriptions"] = dict(reversed(list(pack_dict["descriptions"].items())))
    with pytest.raises(InputError, match="descriptions of"):
        validate_pack(pack_dict)


def test_newer_version_rejected(pack_dict):
    pack_dict["format_version"] = 2
    with pytest.raises(InputError, match="version 2"):
        validate_pack(pack_dict)


def test_schema_violation_named(pack_dict):
    pack_dict["members"][0]["weight"] = -1
    with pytest.raises(InputError, match="members/0/weight"):
        validate_pack(pack_dict)


def test_empty_prompt_list_rejected(pack_dict):
    pack_dict["class_prompts"]["dog"] = []
    with pytest.raises(InputError, match="class_prompts/dog"):
        validate_pack(pack_dict)


def test_other_json_rejected():
    with pytest.raises(InputError, match="not a prompt pack"):
        validate_pack({"imagenet1k": ["a photo of a {c}."]})


def test_missing_file_rejected(tmp_path):
    with pytest.raises(InputError, match="pack file not found"):
        load_pack(tmp_path / "absent.json")


def test_invalid_json_rejected(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_pack(path)


def test_pack_repeats_by_weight(pack_dict):
    assert pack_dict["class_prompts"]["cat"] == ["a photo of a cat.", "a photo of a cat.", "It purrs.", "It has whiskers."]


# Heads and exports


def test_clip_benchmark_head_matches_open_clip(pack_dict, tiny_clip, tmp_path):
    from open_clip import build_zero_shot_classifier

    model, tokenizer, _ = tiny_clip
    path = write_export(Pack.from_dict(pack_dict), tmp_path / "templates.json", "clip-benchmark", dataset_name="pets")
    templates = json.loads(path.read_text())["pets"]
    columns = []
    for name in ["cat", "dog"]:
        # Per-class prompts differ in number, so each class gets its own call with
        # templates that ignore the class name and return one fixed prompt.
        fixed = [lambda _, prompt=prompt: prompt for prompt in templates[name]]
        columns.append(build_zero_shot_classifier(model, tokenizer, [name], fixed, num_classes_per_batch=None))
    reference = np.concatenate([c.numpy() for c in columns], axis=1).T
    ours = load_pack(write_pack(pack_dict, tmp_path / "pack.json")).class_embeddings(model, tokenizer)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_clip_benchmark_keys_in_class_order(pack_dict, tmp_path):
    path = write_export(Pack.from_dict(pack_dict), tmp_path / "t.json", "clip-benchmark", dataset_name="pets")
    assert list(json.loads(path.read_text())["pets"]) == ["cat", "dog"]


def test_classify_image_arrays(pack_dict, tiny_clip):
    model, tokenizer, preprocess = tiny_clip
    images = np.random.default_rng(0).integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    predictions = Pack.from_dict(pack_dict).classify(images, model, tokenizer, preprocess)
    assert set(predictions) <= {"cat", "dog"}
    assert len(predictions) == 3


def test_open_clip_needs_tokenizer(pack_dict, tiny_clip):
    model, _, _ = tiny_clip
    with pytest.raises(InputError, match="needs its tokenizer"):
        Pack.from_dict(pack_dict).class_embeddings(model)


def test_csv_counts_repeats(pack_dict, tmp_path):
    path = write_export(Pack.from_dict(pack_dict), tmp_path / "p.csv", "csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0] == {"class_index": "0", "class_name": "cat", "prompt": "a photo of a cat.", "count": "2"}
    assert len(rows) == 5


def test_unknown_export_format(pack_dict, tmp_path):
    with pytest.raises(InputError, match="unknown export format"):
        write_export(Pack.from_dict(pack_dict), tmp_path / "x", "yaml")


def test_pack_data_copy_unchanged(pack_dict):
    before = copy.deepcopy(pack_dict)
    Pack.from_dict(pack_dict).class_prompts["cat"].append("changed")
    assert pack_dict == before
