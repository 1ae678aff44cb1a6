"""Image datasets (folders, .npz, digits, torchvision) and the full loop on a random-weight open_clip."""

from __future__ import annotations

import json
import logging
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.cli import main as cli_main
from agent.data import load_dataset
from agent.errors import InputError, LLMError, ModelUnavailableError
from agent.llm.replay import ReplayLLM
from agent.optimizer import Settings
from agent.propose import Proposer
from agent.runner import run_optimizer
from agent.store import Store
from agent.targets.clip import TINY_ARCH, OpenClipTarget
from conftest import needs_llama_cpp, shared_file

FASHION = "images/fashion_mnist/test.npz"


class CountingTarget(OpenClipTarget):
    """The tiny random-weight target, counting the images it encodes."""

    def __init__(self) -> None:
        super().__init__(TINY_ARCH, None, device="cpu")
        self.encoded = 0

    def encode_inputs(self, inputs, progress=None):
        self.encoded += len(inputs)
        return super().encode_inputs(inputs, progress)


def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def noise(seed: int, shape=(12, 12, 3)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8))


@pytest.fixture
def animals(tmp_path) -> Path:
    """cat/ and dog/ class folders with RGB, grayscale, RGBA, tiny and nested images."""
    root = tmp_path / "animals"
    save(root / "cat" / "a.png", noise(1))
    save(root / "cat" / "b.jpg", noise(2))
    save(root / "cat" / "nested" / "c.png", noise(3, (2, 2)))
    save(root / "dog" / "a.png", noise(4).convert("RGBA"))
    save(root / "dog" / "b.bmp", noise(5, (30, 7)))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    save(root / ".hidden" / "x.png", noise(6))
    return root


def replies(class_names) -> list[str]:
    """Two steps of scripted replies; the second step's first template call fails once."""
    step_one = [
        {"templates": ["a black and white photo of a {}.", "a low-resolution picture of a {}.", "no placeholder"]},
        {"renamings": [{name: f"a {name.lower()}" for name in class_names}]},
        {"descriptions": [{name: [f"A {name} seen from the front.", f"A {name} on a plain background."] for name in class_names}]},
    ]
    step_two = [
        {"templates": ["a close-up photo of a {}.", "a scan of a {}."]},
        {"renamings": [{name: f"the {name.lower()}" for name in class_names}]},
        {"descriptions": [{name: [f"A small {name}.", f"A {name} in grayscale."] for name in class_names}]},
    ]
    texts = [json.dumps(reply) for reply in step_one + step_two]
    return texts[:3] + [LLMError("timed out")] + texts[3:]


# Folders


def test_folder_labels_from_names(animals):
    dataset = load_dataset(animals)
    assert dataset.modality == "image"
    assert dataset.class_names == ("cat", "dog")
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1]
    assert [Path(p).name for p in dataset.inputs] == ["a.png", "b.jpg", "c.png", "a.png", "b.bmp"]


def test_folder_hash_from_content(animals, tmp_path):
    moved = shutil.copytree(animals, tmp_path / "elsewhere")
    assert load_dataset(moved).inputs_hash == load_dataset(animals).inputs_hash


def test_folder_hash_changes_with_pixels(animals):
    before = load_dataset(animals).inputs_hash
    save(animals / "dog" / "b.bmp", noise(99, (30, 7)))
    assert load_dataset(animals).inputs_hash != before


def test_folder_classes_reordered(animals):
    dataset = load_dataset(animals, classes=["dog", "cat", "bird"])
    assert dataset.labels.tolist() == [1, 1, 1, 0, 0]


def test_folder_unknown_class_folder(animals):
    with pytest.raises(InputError, match="class folder 'dog'"):
        load_dataset(animals, classes=["cat", "bird"])


def test_flat_folder_needs_classes(tmp_path):
    save(tmp_path / "flat" / "one.png", noise(1))
    with pytest.raises(InputError, match="pass --classes"):
        load_dataset(tmp_path / "flat")


def test_flat_folder_unlabelled(tmp_path):
    save(tmp_path / "flat" / "one.png", noise(1))
    save(tmp_path / "flat" / "two.png", noise(2))
    dataset = load_dataset(tmp_path / "flat", classes="cat,dog")
    assert len(dataset) == 2
    assert dataset.labels is None


def test_mixed_folder_rejected(animals):
    save(animals / "loose.png", noise(7))
    with pytest.raises(InputError, match="loose.png"):
        load_dataset(animals)


def test_empty_folder_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files found"):
        load_dataset(tmp_path / "empty")


def break_files(root: Path) -> tuple[Path, Path]:
    garbage = root / "cat" / "garbage.png"
    garbage.write_bytes(b"this is not a png")
    truncated = root / "dog" / "truncated.jpg"
    data = (root / "cat" / "b.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return garbage, truncated


def test_unreadable_skipped_with_warning(animals, caplog):
    garbage, truncated = break_files(animals)
    with caplog.at_level(logging.WARNING, logger="agent.data.images"):
        dataset = load_dataset(animals)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(dataset) == 5
    assert len(warnings) == 1
    assert "skipped 2 unreadable image files of 7" in warnings[0]
    assert str(garbage) in warnings[0]
    assert str(truncated) in warnings[0]


def test_unreadable_rejected_when_strict(animals):
    garbage, _ = break_files(animals)
    with pytest.raises(InputError, match="2 of 7 image files") as caught:
        load_dataset(animals, strict=True)
    assert str(garbage) in str(caught.value)


def test_all_unreadable_rejected(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"nope")
    with pytest.raises(InputError, match="1 of 1 image files"):
        load_dataset(tmp_path / "bad", classes="x,y")


# .npz files and digits


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def small_npz(tmp_path) -> Path:
    images = np.random.default_rng(0).integers(0, 256, size=(6, 10, 10), dtype=np.uint8)
    return write_npz(tmp_path / "small.npz", images=images, labels=np.array([0, 1, 2, 0, 1, 2]), label_names=np.array(["a", "b", "c"]))


def test_npz_loads(small_npz):
    dataset = load_dataset(small_npz)
    assert dataset.class_names == ("a", "b", "c")
    assert dataset.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert dataset.inputs.shape == (6, 10, 10)


def test_npz_hash_follows_pixels(small_npz, tmp_path):
    with np.load(small_npz) as archive:
        images = archive["images"].copy()
    images[0, 0, 0] ^= 1
    other = write_npz(tmp_path / "other.npz", images=images, labels=np.zeros(6, dtype=int), label_names=np.array(["a", "b", "c"]))
    assert load_dataset(other).inputs_hash != load_dataset(small_npz).inputs_hash


def test_npz_subset_keeps_array(small_npz):
    dataset = load_dataset(small_npz, max_inputs=4)
    assert dataset.inputs.shape == (4, 10, 10)


def test_npz_channels_first_transposed(tmp_path):
    images = np.zeros((2, 3, 8, 9), dtype=np.uint8)
    images[:, :, 0, 0] = 255
    path = write_npz(tmp_path / "chw.npz", images=images, labels=np.array([0, 1]), label_names=np.array(["x", "y"]))
    assert load_dataset(path).inputs.shape == (2, 8, 9, 3)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"labels": np.zeros(2, dtype=int)}, "no 'images' array"),
        ({"images": np.zeros((2, 4, 4))}, "are float64; store uint8"),
        ({"images": np.zeros((4, 4), dtype=np.uint8)}, r"shape \(4, 4\)"),
        ({"images": np.zeros((2, 4, 4), dtype=np.uint8), "labels": np.zeros(3, dtype=int), "label_names": np.array(["a", "b"])}, "one label per image"),
        ({"images": np.zeros((2, 4, 4), dtype=np.uint8), "labels": np.array([0, 5]), "label_names": np.array(["a", "b"])}, "label 5 of image 1"),
        ({"images": np.zeros((2, 4, 4), dtype=np.uint8), "labels": np.array([0.5, 1.0]), "label_names": np.array(["a", "b"])}, "store integer class indices"),
        ({"images": np.zeros((2, 4, 4), dtype=np.uint8)}, "pass --classes"),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
    with pytest.raises(InputError, match=message):
        load_dataset(write_npz(tmp_path / "bad.npz", **arrays))


def test_npz_missing_file(tmp_path):
    with pytest.raises(InputError, match="dataset file not found"):
        load_dataset(tmp_path / "missing.npz")


def test_npz_not_an_archive(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a readable .npz file"):
        load_dataset(path)


def test_npz_images_only_with_classes(tmp_path):
    path = write_npz(tmp_path / "plain.npz", images=np.full((3, 4, 4), 200, dtype=np.uint8))
    dataset = load_dataset(path, classes="a,b")
    assert dataset.labels is None


def test_digits_builtin():
    dataset = load_dataset("digits")
    assert len(dataset) == 1797
    assert dataset.class_names == tuple("0123456789")
    assert dataset.inputs.dtype == np.uint8
    assert dataset.inputs.max() == 255
    assert dataset.description is not None


def test_fashion_npz_shared():
    dataset = load_dataset(shared_file(FASHION), max_inputs=300)
    assert len(dataset) == 300
    assert dataset.class_names[0] == "T-shirt/top"
    assert dataset.name == "fashion_mnist-test"


# torchvision


class FakeCIFAR:
    """Stands in for torchvision.datasets.CIFAR10 so that no test downloads anything."""

    calls: list = []

    def __init__(self, root, train=True, transform=None, download=False):
        FakeCIFAR.calls.append({"root": root, "train": train, "download": download})
        self.data = np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
        self.targets = [0, 1, 1, 0, 1]
        self.classes = ["airplane", "automobile"]


class OfflineCIFAR:
    def __init__(self, root, train=True, transform=None, download=False):
        raise urllib.error.URLError("[Errno -2] Name or service not known")


class FakeFileBacked:
    """A file-backed torchvision dataset: no array `data`, PIL images on access."""

    def __init__(self, root, split="train", transform=None, download=False):
        self.split = split
        self.classes = ["a", "b"]

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return noise(index), index % 2


@pytest.fixture
def fake_torchvision(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR)
    FakeCIFAR.calls = []
    return torchvision.datasets


def test_torchvision_test_split(fake_torchvision, tmp_path):
    dataset = load_dataset("torchvision:CIFAR10")
    assert dataset.class_names == ("airplane", "automobile")
    assert dataset.labels.tolist() == [0, 1, 1, 0, 1]
    assert FakeCIFAR.calls == [{"root": str(tmp_path / "cache" / "agent" / "torchvision" / "CIFAR10"), "train": False, "download": True}]


def test_torchvision_offline_error(fake_torchvision, monkeypatch, tmp_path):
    monkeypatch.setattr(fake_torchvision, "CIFAR10", OfflineCIFAR)
    with pytest.raises(InputError, match="torchvision dataset CIFAR10 could not be downloaded") as caught:
        load_dataset("torchvision:CIFAR10")
    assert str(tmp_path / "cache") in str(caught.value)


def test_torchvision_unknown_name(fake_torchvision):
    with pytest.raises(InputError, match="did you mean CIFAR10"):
        load_dataset("torchvision:CIFAR11")


def test_torchvision_file_backed(fake_torchvision, monkeypatch):
    monkeypatch.setattr(fake_torchvision, "CIFAR10", FakeFileBacked)
    dataset = load_dataset("torchvision:CIFAR10")
    assert dataset.labels.tolist() == [0, 1, 0]
    assert isinstance(dataset.inputs[2], Image.Image)


# Meta-prompts


def test_image_meta_prompts_visual():
    proposer = Proposer(ReplayLLM(["{}"]), ["cat", "dog"], "image", None)
    templates = proposer.messages("template", [], 3)[1]["content"]
    descriptions = proposer.messages("descriptions", [], 2)[1]["content"]
    assert "caption" in templates
    assert "what it looks like" in descriptions
    assert "$" not in templates + descriptions


# The full loop


def check_run(result, dataset, target):
    """Assert the stored rows and the pack of a two-step scripted run."""
    store = Store(result.database)
    run_row = store.run(result.run_id)
    assert run_row["status"] == "finished"
    assert run_row["modality"] == "image"
    assert run_row["target_id"] == target.id
    assert [s["status"] for s in store.steps(result.run_id)] == ["ok", "ok", "ok"]
    candidates = store.candidates(result.run_id)
    assert len([c for c in candidates if c["state"] == "scored"]) == 2 + 4 + 4
    assert [c["reason"] for c in candidates if c["state"] == "rejected"] == [
        "template must contain the placeholder {} exactly once, found 0"
    ]
    calls = store.llm_calls(result.run_id)
    assert len(calls) == 7
    assert [c["error"] for c in calls if c["error"]] == ["timed out"]
    assert "visual description" in json.loads(calls[2]["messages"])[1]["content"]
    assert [e["name"] for e in store.evaluations(result.run_id)] == ["class names", "single template", "optimized"]
    pack = json.loads(result.pack_path.read_text())
    assert pack["target"] == target.id
    assert pack["modality"] == "image"
    assert pack["class_names"] == list(dataset.class_names)
    assert pack["provenance"]["inputs"] == len(dataset)
    assert pack["provenance"]["dataset_hash"] == dataset.inputs_hash
    assert all(pack["class_prompts"][name] for name in dataset.class_names)
    store.close()


def run_scripted(dataset, target, runs_dir, name="run"):
    # Without seed templates, so that the counts below are the scripted replies' alone, and
    # without the class guard, which random weights would trip at random.
    settings = Settings(steps=2, candidates_per_step=2, seed=0, seed_templates=False, class_guard=False)
    llm = ReplayLLM(replies(dataset.class_names))
    return run_optimizer(dataset, target=target, llm=llm, settings=settings, runs_dir=runs_dir, run=name)


def test_loop_fashion_npz(tmp_path):
    dataset = load_dataset(shared_file(FASHION), max_inputs=300)
    target = CountingTarget()
    result = run_scripted(dataset, target, tmp_path)
    check_run(result, dataset, target)
    assert target.encoded == 300


def test_loop_digits(tmp_path):
    dataset = load_dataset("digits", max_inputs=200)
    target = CountingTarget()
    result = run_scripted(dataset, target, tmp_path)
    check_run(result, dataset, target)


def test_second_run_encodes_nothing(tmp_path):
    dataset = load_dataset("digits", max_inputs=200)
    first, second = CountingTarget(), CountingTarget()
    run_scripted(dataset, first, tmp_path, name="first")
    run_scripted(load_dataset("digits", max_inputs=200), second, tmp_path, name="second")
    assert first.encoded == 200
    assert second.encoded == 0


def test_loop_folder_of_files(animals, tmp_path):
    dataset = load_dataset(animals)
    target = CountingTarget()
    result = run_scripted(dataset, target, tmp_path / "runs")
    check_run(result, dataset, target)


def test_cli_runs_image_loop(tmp_path, capsys):
    replay = tmp_path / "replies.json"
    scripted = [r if isinstance(r, str) else {"error": str(r)} for r in replies([str(d) for d in range(10)])]
    replay.write_text(json.dumps(scripted))
    code = cli_main([
        "--dataset", "digits", "--max-inputs", "100", "--target", f"clip:{TINY_ARCH}/random",
        "--llm", f"replay:{replay}", "--steps", "2", "--candidates-per-step", "2",
        "--runs-dir", str(tmp_path / "runs"), "--run", "cli", "--quiet",
    ])
    assert code == 0
    assert (tmp_path / "runs" / "cli" / "pack.json").is_file()


def test_cli_offline_weights_one_line(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    replay = tmp_path / "replies.json"
    replay.write_text(json.dumps(['{"templates": []}']))
    code = cli_main([
        "--dataset", "digits", "--max-inputs", "20", "--target", "clip:ViT-B-32/openai",
        "--llm", f"replay:{replay}", "--runs-dir", str(tmp_path / "runs"), "--quiet",
    ])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(errors) == 1
    assert "ViT-B-32/openai" in errors[0]


@pytest.mark.slow
@needs_llama_cpp
def test_loop_bundled_llm(tmp_path):
    from agent.llm.local import LocalLLM

    try:
        llm = LocalLLM()
    except ModelUnavailableError as error:
        pytest.skip(f"the bundled LLM is unavailable: {error}")
    dataset = load_dataset("digits", max_inputs=200)
    target = CountingTarget()
    # One short renaming call: SmolLM2 wrote about 18 tokens a second on a shared 2-core
    # CPU, and its template or description replies ran to hundreds of tokens.
    settings = Settings(steps=1, candidates_per_step=1, seed=0, kinds=("names",), retries=0)
    result = run_optimizer(dataset, target=target, llm=llm, settings=settings, runs_dir=tmp_path, run="local")
    store = Store(result.database)
    assert [s["step"] for s in store.steps(result.run_id)] == [0, 1]
    assert len(store.llm_calls(result.run_id)) == 1
    assert result.pack["target"] == target.id
    assert result.pack_path.is_file()
    store.close()
