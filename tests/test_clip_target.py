"""OpenClipTarget with random weights on a registered tiny ViT: inputs, specs, devices, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from agent.errors import InputError, ModelUnavailableError
from agent.targets import resolve_target
from agent.targets.clip import TINY_ARCH, OpenClipTarget, choose_device, precision_for


@pytest.fixture(scope="module")
def tiny() -> OpenClipTarget:
    return OpenClipTarget(TINY_ARCH, None, device="cpu")


@pytest.fixture()
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(3, 20, 24, 3), dtype=np.uint8)


def test_random_id(tiny):
    assert tiny.id == f"clip:{TINY_ARCH}/random"


def test_random_weights_repeatable(tiny, pixels):
    other = OpenClipTarget(TINY_ARCH, None, device="cpu")
    assert np.array_equal(other.encode_inputs(pixels), tiny.encode_inputs(pixels))


def test_features_unit_float32(tiny, pixels):
    features = tiny.encode_inputs(pixels)
    assert features.shape == (3, 64)
    assert features.dtype == np.float32
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_texts_unit_rows(tiny):
    vectors = tiny.encode_texts(["a photo of a cat.", "a sketch of a dog."])
    assert vectors.shape == (2, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_input_kinds_agree(tiny, pixels, tmp_path):
    path = tmp_path / "image.png"
    Image.fromarray(pixels[0]).save(path)
    items = [pixels[0], Image.fromarray(pixels[0]), str(path), path]
    features = tiny.encode_inputs(items)
    for row in features[1:]:
        assert np.allclose(row, features[0], atol=1e-6)


def test_stacked_array_matches_list(tiny, pixels):
    assert np.allclose(tiny.encode_inputs(pixels), tiny.encode_inputs(list(pixels)), atol=1e-6)


def test_grayscale_equals_gray_rgb(tiny):
    gray = np.random.default_rng(1).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=3)
    assert np.allclose(tiny.encode_inputs(gray), tiny.encode_inputs(rgb), atol=1e-6)


def test_odd_modes_and_sizes(tiny):
    items = [
        np.zeros((1, 1), dtype=np.uint8),
        np.full((5, 3, 1), 200, dtype=np.uint8),
        np.full((8, 8, 4), 90, dtype=np.uint8),
        Image.new("P", (7, 2)),
        Image.new("CMYK", (40, 30)),
        Image.fromarray(np.full((6, 6), 60000, dtype=np.uint16)),
    ]
    features = tiny.encode_inputs(items)
    assert features.shape == (6, 64)
    assert np.isfinite(features).all()


def test_sixteen_bit_scaled(tiny):
    wide = Image.fromarray(np.full((6, 6), 256 * 100, dtype=np.uint16))
    narrow = np.full((6, 6), 100, dtype=np.uint8)
    assert np.allclose(tiny.encode_inputs([wide]), tiny.encode_inputs([narrow]), atol=1e-6)


def test_progress_reaches_total(tiny):
    calls = []
    OpenClipTarget(TINY_ARCH, None, device="cpu", batch_size=4).encode_inputs(
        np.zeros((10, 8, 8), dtype=np.uint8), progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(4, 10), (8, 10), (10, 10)]


def test_float_array_rejected(tiny):
    with pytest.raises(InputError, match="float64 array; pass uint8"):
        tiny.encode_inputs([np.zeros((4, 4))])


def test_bad_shape_rejected(tiny):
    with pytest.raises(InputError, match=r"shape \(4, 4, 2\)"):
        tiny.encode_inputs([np.zeros((4, 4, 2), dtype=np.uint8)])


def test_unknown_type_rejected(tiny):
    with pytest.raises(InputError, match="input 0 is a int"):
        tiny.encode_inputs([3])


def test_unreadable_path_named(tiny, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    with pytest.raises(InputError, match="broken.png"):
        tiny.encode_inputs([path])


def test_logit_scale_from_model(tiny):
    assert tiny.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)


def test_spec_random(tiny):
    target = resolve_target(f"clip:{TINY_ARCH}/random", "image")
    assert target.id == tiny.id


def test_spec_tag():
    target = OpenClipTarget.from_spec("ViT-B-32/openai")
    assert (target.arch, target.pretrained, target.id) == ("ViT-B-32", "openai", "clip:ViT-B-32/openai")


def test_spec_without_weights():
    with pytest.raises(InputError, match="clip:ARCH/PRETRAINED"):
        OpenClipTarget.from_spec("ViT-B-32")


def test_unknown_arch_suggests():
    with pytest.raises(InputError, match="did you mean ViT-B-32"):
        OpenClipTarget.from_spec("ViT-B-33/openai")


def test_unknown_tag_lists_tags():
    with pytest.raises(InputError, match="laion2b_s34b_b79k"):
        OpenClipTarget.from_spec("ViT-B-32/nope")


def test_missing_checkpoint_named(tmp_path):
    missing = tmp_path / "weights.pt"
    with pytest.raises(InputError, match=f"checkpoint file not found: {missing}"):
        OpenClipTarget.from_spec(f"ViT-B-32/{missing}")


def test_local_checkpoint_loads(tiny, pixels, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), path)
    local = OpenClipTarget.from_spec(f"{TINY_ARCH}/{path}", device="cpu")
    assert local.id.startswith(f"clip:{TINY_ARCH}/tiny.pt@sha256:")
    assert np.allclose(local.encode_inputs(pixels), tiny.encode_inputs(pixels), atol=1e-6)


def test_checkpoint_id_follows_content(tiny, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), path)
    before = OpenClipTarget(TINY_ARCH, str(path)).id
    path.write_bytes(path.read_bytes() + b"\0")
    assert OpenClipTarget(TINY_ARCH, str(path)).id != before


def test_corrupt_checkpoint_unavailable(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ModelUnavailableError, match="corrupt.pt"):
        OpenClipTarget(TINY_ARCH, str(path), device="cpu").model


def test_offline_download_one_error(monkeypatch):
    from huggingface_hub import constants

    # Offline mode makes the hub fail at once instead of retrying against the network.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = OpenClipTarget.from_spec("ViT-B-32/openai", device="cpu")
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        target.model
    message = str(caught.value)
    assert "ViT-B-32/openai" in message
    assert "clip:ViT-B-32/path/to/file.pt" in message
    assert "\n" not in message
    assert time.perf_counter() - started < 10


def test_device_auto_order(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device(None) == "cuda"


def test_device_auto_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choose_device(None) == "cpu"


def test_device_missing_rejected(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="--device cuda is not available"):
        choose_device("cuda")


def test_device_invalid_rejected():
    with pytest.raises(InputError, match="invalid --device 'gpu0'"):
        choose_device("gpu0")


def test_half_precision_on_gpu():
    assert precision_for("cuda:0") == "fp16"
    assert precision_for("cpu") == "fp32"


def test_tiny_registered():
    import open_clip

    assert TINY_ARCH in open_clip.list_models()


def test_text_target_rejects_images():
    with pytest.raises(InputError, match="holds images"):
        resolve_target("st:all-MiniLM-L6-v2", "image")


def test_default_image_target():
    assert resolve_target(None, "image").id == "clip:ViT-B-32/openai"


def test_checkpoint_suffix_means_path():
    with pytest.raises(InputError, match="checkpoint file not found"):
        OpenClipTarget("ViT-B-32", "x.pt")

