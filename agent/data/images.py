"""Image datasets and the conversion of image inputs to RGB PIL images.

A dataset comes from a folder of class subfolders (labels from folder names) or a flat
folder of images with class names given. It can also come from an `.npz` file holding
`images`, `labels` and `label_names`, from the built-in `digits` (scikit-learn's bundled
8x8 digits) or from `torchvision:NAME` (downloaded into a cache folder). Folder datasets
contain file paths, decoded again when encoded. Every `inputs_hash` comes from pixel or
file bytes, never from paths alone.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import io
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageOps

from agent.data import Dataset
from agent.data.classes import check_class_names, labels_to_indices
from agent.errors import InputError
from agent.hashing import content_hash

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
# How many unreadable files a warning or an error names before it only counts them.
SHOWN_BAD_FILES = 3
_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}
_PIL_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


# Conversion of single inputs


def to_rgb_image(item: Any, position: int = 0) -> Image.Image:
    """Convert a PIL image, an image file path or a uint8 array to an RGB PIL image.

    `position` is the item's index, used in error messages. Raises InputError.
    """
    if isinstance(item, Image.Image):
        image = item
    elif isinstance(item, (str, os.PathLike)):
        image = open_image_file(Path(item))
    elif isinstance(item, np.ndarray):
        image = array_to_image(item, position)
    else:
        raise InputError(
            f"input {position} is a {type(item).__name__}; pass PIL images, image file paths or uint8 arrays"
        )
    if image.mode in _SIXTEEN_BIT_MODES:
        # PIL clips 16-bit values at 255 when converting to RGB, which turns most pixels white.
        pixels = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    return image if image.mode == "RGB" else image.convert("RGB")


def open_image_file(path: Path) -> Image.Image:
    """Decode an image file fully, applying its EXIF orientation; raises InputError naming the path."""
    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image)
    except _PIL_READ_ERRORS as error:
        raise InputError(f"cannot read image file {path} ({_reason(error)}); fix or remove the file") from error


def array_to_image(array: np.ndarray, position: int = 0) -> Image.Image:
    """Wrap a uint8 HxW, HxWx1, HxWx3 or HxWx4 array as a PIL image."""
    if array.dtype != np.uint8:
        raise InputError(
            f"input {position} is a {array.dtype} array; pass uint8 pixel values 0..255, "
            "for example (array * 255).astype(np.uint8) for values in 0..1"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return Image.fromarray(array, mode="L")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array), mode="RGB" if array.shape[2] == 3 else "RGBA")
    raise InputError(
        f"input {position} is an array of shape {array.shape}; pass HxW (grayscale) or HxWxC with C of 1, 3 or 4"
    )


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{error.__class__.__name__}: {text}" if text else error.__class__.__name__


# Dispatch


def load_image_dataset(spec: str, class_names: tuple[str, ...] | None, *, strict: bool = False) -> Dataset:
    """Load an image dataset from a folder, an `.npz` file, `digits` or `torchvision:NAME`.

    Unreadable image files in a folder are skipped with one warning, or rejected with
    InputError when `strict` is true.
    """
    if spec == "digits":
        return load_digits(class_names)
    if spec.startswith("torchvision:"):
        return load_torchvision(spec.partition(":")[2], class_names)
    path = Path(spec)
    if path.suffix.lower() == ".npz":
        return load_npz(path, class_names)
    if path.is_dir():
        return load_folder(path, class_names, strict=strict)
    raise InputError(f"image dataset not found: {spec}; pass a folder, an .npz file, 'digits' or torchvision:NAME")


# Arrays: .npz files, digits, torchvision sets


def load_npz(path: Path, class_names: tuple[str, ...] | None) -> Dataset:
    """Read `images` (uint8), optional `labels` (int) and optional `label_names` from an .npz file."""
    if not path.is_file():
        raise InputError(f"dataset file not found: {path}; pass an .npz file holding images, labels and label_names")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable .npz file ({_reason(error)})") from error
    if "images" not in arrays:
        raise InputError(f"{path} has no 'images' array (arrays: {', '.join(arrays) or 'none'}); save the pixels as images=...")
    label_names = None
    if "label_names" in arrays:
        label_names = [str(name) for name in arrays["label_names"].tolist()]
    name = path.stem if path.stem not in {"test", "train", "dev"} else f"{path.parent.name}-{path.stem}"
    return array_dataset(
        name, arrays["images"], arrays.get("labels"), label_names, class_names, source=str(path)
    )


def load_digits(class_names: tuple[str, ...] | None) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits, rescaled from 0..16 to 0..255."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return array_dataset(
        "digits", images, bunch.target, [str(name) for name in bunch.target_names], class_names,
        source="sklearn.datasets.load_digits", description="8x8 grayscale scans of handwritten digits",
    )


def array_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray | Sequence[int] | None,
    label_names: Sequence[str] | None,
    class_names: tuple[str, ...] | None,
    *,
    source: str,
    description: str | None = None,
) -> Dataset:
    """Check an NxHxW or NxHxWxC uint8 array with integer labels into label_names and build a Dataset."""
    images = check_image_array(images, source)
    label_values = None if labels is None else check_labels(labels, len(images), label_names, source)
    if class_names is None:
        if label_names is None:
            raise InputError(f"{source} has no label_names, so class names cannot be inferred; pass --classes a,b,c or --classes-file FILE")
        class_names = check_class_names(label_names, f"the label_names of {source}")
    indices = None if label_values is None else labels_to_indices(label_values, class_names, source)
    return Dataset(
        name=name, modality="image", inputs=images, class_names=class_names, inputs_hash=hash_array(images),
        labels=indices, description=description, source=source,
    )


def check_image_array(images: np.ndarray, source: str) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise InputError(f"images in {source} are {images.dtype}; store uint8 pixel values 0..255")
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[3] not in (1, 3, 4):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3, 4)):
        raise InputError(f"images in {source} have shape {images.shape}; expected NxHxW or NxHxWxC with C of 1, 3 or 4")
    if len(images) == 0:
        raise InputError(f"{source} contains no images")
    if images.max() < 32:
        logger.warning("pixel values in %s reach only %d of 255; rescale them to 0..255 or the images look black", source, images.max())
    return np.ascontiguousarray(images)


def check_labels(labels: Any, count: int, label_names: Sequence[str] | None, source: str) -> list[str]:
    """Return each label as a string: its label name when names are given, else the integer."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != count:
        raise InputError(f"labels in {source} have shape {labels.shape}, but there are {count} images; store one label per image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels in {source} are {labels.dtype}; store integer class indices")
    if label_names is None:
        return [str(value) for value in labels.tolist()]
    bad = np.flatnonzero((labels < 0) | (labels >= len(label_names)))
    if len(bad):
        raise InputError(
            f"label {labels[bad[0]]} of image {bad[0]} in {source} is outside 0..{len(label_names) - 1}, "
            "the indices of label_names; fix the labels"
        )
    return [label_names[value] for value in labels.tolist()]


def hash_array(images: np.ndarray) -> str:
    digest = hashlib.sha256(images.tobytes()).hexdigest()
    return content_hash(["images", list(images.shape), str(images.dtype), digest])


def torchvision_root() -> Path:
    """Return the folder that torchvision datasets are downloaded into, $XDG_CACHE_HOME/agent/torchvision."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "agent" / "torchvision"


def load_torchvision(name: str, class_names: tuple[str, ...] | None) -> Dataset:
    """Load the test split of a torchvision dataset, downloading it into `torchvision_root()` once."""
    import torchvision.datasets

    available = sorted(getattr(torchvision.datasets, "__all__", []))
    if name not in available:
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"available: {', '.join(available)}"
        raise InputError(f"unknown torchvision dataset {name!r}; {hint}")
    root = torchvision_root() / name
    dataset = _build_torchvision(getattr(torchvision.datasets, name), name, root)
    label_names = [str(label) for label in getattr(dataset, "classes", None) or []] or None
    source = f"torchvision:{name}"
    pixels = getattr(dataset, "data", None)
    if pixels is not None and np.asarray(pixels).ndim in (3, 4):
        labels = getattr(dataset, "targets", None)
        if labels is None:
            labels = getattr(dataset, "labels", None)
        return array_dataset(name, np.asarray(pixels), labels, label_names, class_names, source=source)
    return _lazy_torchvision(name, dataset, label_names, class_names, source)


def _build_torchvision(dataset_class: Any, name: str, root: Path) -> Any:
    parameters = inspect.signature(dataset_class).parameters
    split: dict[str, Any] = {}
    if "train" in parameters:
        split = {"train": False}
    elif "split" in parameters:
        split = {"split": "test"}
    try:
        return dataset_class(root=str(root), download=True, **split)
    except TypeError as error:
        raise InputError(
            f"torchvision dataset {name} needs arguments this loader does not pass ({error}); "
            "save it as a class-per-subfolder folder or an .npz file instead"
        ) from error
    except (OSError, RuntimeError, ValueError) as error:
        raise InputError(
            f"torchvision dataset {name} could not be downloaded into {root} ({_reason(error)}); "
            "connect to the internet once, or put the dataset's files there yourself"
        ) from error


def _lazy_torchvision(
    name: str, dataset: Any, label_names: list[str] | None, class_names: tuple[str, ...] | None, source: str
) -> Dataset:
    """Wrap a file-backed torchvision dataset; one pass decodes every image for the labels and hash."""
    # NOTE: this pass runs on every load, so a large file-backed set costs a full decode each time.
    digest, labels = hashlib.sha256(), []
    for index in range(len(dataset)):
        image, label = dataset[index]
        digest.update(to_rgb_image(image, index).tobytes())
        labels.append(int(label))
    images = _TorchvisionImages(dataset)
    if class_names is None:
        if label_names is None:
            raise InputError(f"{source} has no class list; pass --classes a,b,c or --classes-file FILE")
        class_names = check_class_names(label_names, source)
    values = check_labels(labels, len(images), label_names, source)
    return Dataset(
        name=name, modality="image", inputs=images, class_names=class_names,
        inputs_hash=content_hash(["torchvision", name, len(images), digest.hexdigest()]),
        labels=labels_to_indices(values, class_names, source), source=source,
    )


class _TorchvisionImages(Sequence):
    """The images of a torchvision dataset as a sequence of PIL images, decoded on access."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.dataset[i][0] for i in range(*index.indices(len(self)))]
        return self.dataset[index][0]


# Folders


def load_folder(root: Path, class_names: tuple[str, ...] | None, *, strict: bool) -> Dataset:
    """Load class subfolders of images (labelled by folder name) or a flat folder of images."""
    paths, folder_labels = scan_folder(root)
    if folder_labels is None and class_names is None:
        raise InputError(
            f"{root} contains images but no class subfolders, so class names cannot be inferred; "
            "pass --classes a,b,c or --classes-file FILE"
        )
    if class_names is None:
        class_names = check_class_names(sorted(set(folder_labels)), f"the subfolders of {root}")
    index = {name: position for position, name in enumerate(class_names)}
    unknown = sorted(set(folder_labels or []) - set(index))
    if unknown:
        raise InputError(
            f"class folder {unknown[0]!r} in {root} is not among the classes ({', '.join(class_names)}); "
            "add it to the class list or move the folder away"
        )
    readable, hashes = read_image_files(paths, root, strict=strict)
    labels = None if folder_labels is None else np.asarray([index[folder_labels[i]] for i in readable], dtype=np.int64)
    return Dataset(
        name=root.resolve().name, modality="image", inputs=[paths[i] for i in readable], class_names=class_names,
        inputs_hash=content_hash(["image files", hashes]), labels=labels, source=str(root),
    )


def scan_folder(root: Path) -> tuple[list[Path], list[str] | None]:
    """Return the image files under `root` and, in the class-per-subfolder layout, their folder names."""
    entries = sorted(entry for entry in root.iterdir() if not entry.name.startswith("."))
    loose = [entry for entry in entries if entry.is_file() and _is_image_name(entry)]
    by_class = {entry.name: _images_under(entry) for entry in entries if entry.is_dir()}
    by_class = {name: files for name, files in by_class.items() if files}
    if loose and by_class:
        raise InputError(
            f"{root} contains both loose images (such as {loose[0].name}) and class subfolders; "
            "move the loose images into a class folder, or use a folder with only one of the two"
        )
    if loose:
        return loose, None
    if not by_class:
        raise InputError(
            f"no image files found in {root}; expected class subfolders of images or images directly "
            f"({' '.join(IMAGE_SUFFIXES)})"
        )
    paths = [path for files in by_class.values() for path in files]
    labels = [name for name, files in by_class.items() for _ in files]
    return paths, labels


def _images_under(folder: Path) -> list[Path]:
    files = (path for path in folder.rglob("*") if path.is_file() and _is_image_name(path))
    return sorted(path for path in files if not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image_files(paths: Sequence[Path], root: Path, *, strict: bool) -> tuple[list[int], list[str]]:
    """Decode every file once; return the positions of readable files and their SHA-256 digests.

    Unreadable or truncated files are skipped with one warning, or rejected when `strict`.
    """
    readable, hashes, failures = [], [], []
    for position, path in enumerate(paths):
        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        except _PIL_READ_ERRORS as error:
            failures.append(f"{path} ({_reason(error)})")
            continue
        readable.append(position)
        hashes.append(hashlib.sha256(data).hexdigest())
    listed = "; ".join(failures[:SHOWN_BAD_FILES]) + ("; ..." if len(failures) > SHOWN_BAD_FILES else "")
    if failures and (strict or not readable):
        fix = "fix or remove them, or leave out --strict to skip them" if strict else "fix or remove them"
        raise InputError(f"{len(failures)} of {len(paths)} image files in {root} are unreadable: {listed}; {fix}")
    if failures:
        logger.warning("skipped %d unreadable image files of %d in %s: %s", len(failures), len(paths), root, listed)
    return readable, hashes
