"""The notebook API: optimize, open_run, in-memory datasets and the result object."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

import agent
from agent.api import as_dataset
from agent.data.demo import demo_texts
from agent.data.objects import dataset_from_objects
from agent.errors import InputError
from agent.hashing import content_hash
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.runner import run_optimizer

CLASSES = ("sports", "weather", "cooking", "finance")


def replay_llm() -> ReplayLLM:
    return ReplayLLM([
        json.dumps({"templates": ["A news story about {}.", "Topic: {}."]}),
        json.dumps({"renamings": [{name: f"{name} news" for name in CLASSES}]}),
        json.dumps({"descriptions": [{name: [f"A sentence about {name}."] for name in CLASSES}]}),
    ])


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def result(runs_dir):
    texts, labels = demo_texts()
    return agent.optimize(
        texts, class_names=CLASSES, labels=labels, llm=replay_llm(), steps=1, candidates_per_step=2,
        runs_dir=runs_dir, run="notebook", progress=False,
    )


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def interrupted(runs_dir):
    """A run stopped by an exception right after step 0, as a crash or Ctrl-C leaves it."""
    def stop(event, info):
        if event == "step":
            raise Interrupt()

    texts, _ = demo_texts()
    dataset = dataset_from_objects(texts, CLASSES)
    with pytest.raises(Interrupt):
        run_optimizer(dataset, target="st:all-MiniLM-L6-v2", llm=replay_llm(), settings=Settings(steps=2),
                      runs_dir=runs_dir, run="stopped", on_event=stop)
    return agent.open_run("stopped", runs_dir=runs_dir)


def test_result_is_frozen(result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.run_name = "other"


def test_result_accuracy_from_store(result):
    assert result.accuracy == result.evaluations["optimized"]["accuracy"]


def test_history_has_every_candidate(result):
    # Step 0: 2 baselines and 9 seed templates; step 1: 2 templates, 1 renaming, 1 description set.
    assert len(result.history) == 15


def test_history_columns(result):
    assert list(result.history.columns[:4]) == ["candidate_id", "step", "kind", "text"]


def test_history_baselines_at_step_zero(result):
    assert set(result.history[result.history.step == 0].source) == {"baseline", "seed"}


def test_plot_has_two_panels(result):
    assert len(result.plot().axes) == 2


def test_pack_classes_in_order(result):
    assert result.pack.class_names == CLASSES


def test_open_run_same_pack(result, runs_dir):
    reopened = agent.open_run("notebook", runs_dir=runs_dir)
    assert reopened.pack.class_prompts == result.pack.class_prompts


def test_open_run_by_id(result, runs_dir):
    assert agent.open_run(result.run_id, runs_dir=runs_dir).run_name == "notebook"


def test_open_run_unknown_name(result, runs_dir):
    with pytest.raises(InputError, match="run 'absent' not found"):
        agent.open_run("absent", runs_dir=runs_dir)


def test_open_run_missing_database(tmp_path):
    with pytest.raises(InputError, match="no history database"):
        agent.open_run("any", runs_dir=tmp_path)


def test_interrupted_run_status(interrupted):
    assert interrupted.status == "failed"


def test_interrupted_run_has_baseline_pack(interrupted):
    assert interrupted.pack is not None


def test_interrupted_run_history(interrupted):
    assert set(interrupted.history.step) == {0}


def test_interrupted_run_without_labels(interrupted):
    assert interrupted.accuracy is None


def test_load_pack_exported(result, tmp_path):
    path = result.pack.write(tmp_path / "pack.json")
    assert agent.load_pack(path).class_names == CLASSES


# In-memory datasets


def test_texts_dataset_modality():
    assert dataset_from_objects(["a", "b"], ["x", "y"]).modality == "text"


def test_texts_dataset_hash():
    assert dataset_from_objects(["a", "b"], ["x", "y"]).inputs_hash == content_hash(["a", "b"])


def test_label_names_to_indices():
    dataset = dataset_from_objects(["a", "b", "c"], ["x", "y"], labels=["y", "x", "y"])
    assert dataset.labels.tolist() == [1, 0, 1]


def test_label_count_mismatch():
    with pytest.raises(InputError, match="2 labels for 3 inputs"):
        dataset_from_objects(["a", "b", "c"], ["x", "y"], labels=[0, 1])


def test_label_index_out_of_range():
    with pytest.raises(InputError, match="label index 5"):
        dataset_from_objects(["a", "b"], ["x", "y"], labels=[0, 5])


def test_mixed_inputs_rejected():
    with pytest.raises(InputError, match="input 1 is a int"):
        dataset_from_objects(["a", 3], ["x", "y"])


def test_array_is_image_dataset():
    images = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    assert dataset_from_objects(images, ["x", "y"]).modality == "image"


def test_array_hash_follows_pixels():
    images = np.zeros((4, 8, 8), dtype=np.uint8)
    changed = images.copy()
    changed[2, 3, 3] = 1
    first = dataset_from_objects(images, ["x", "y"]).inputs_hash
    assert first == dataset_from_objects(images.copy(), ["x", "y"]).inputs_hash
    assert first != dataset_from_objects(changed, ["x", "y"]).inputs_hash


def test_pil_images_dataset():
    images = [Image.new("RGB", (8, 8), color) for color in ("red", "blue")]
    assert dataset_from_objects(images, ["x", "y"]).modality == "image"


def test_image_paths_hash_file_bytes(tmp_path):
    paths = []
    for index, color in enumerate(("red", "blue")):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (8, 8), color).save(path)
        paths.append(str(path))
    by_string = dataset_from_objects(paths, ["x", "y"], modality="image")
    by_path = dataset_from_objects([tmp_path / "0.png", tmp_path / "1.png"], ["x", "y"])
    assert by_string.inputs_hash == by_path.inputs_hash


def test_missing_image_path(tmp_path):
    with pytest.raises(InputError, match="image file not found"):
        dataset_from_objects([tmp_path / "absent.png"], ["x", "y"])


def test_objects_need_class_names():
    with pytest.raises(InputError, match="need class_names"):
        as_dataset(["a", "b"])


def test_spec_string_loads_demo():
    assert len(as_dataset("demo")) == 160
