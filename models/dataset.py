"""What a dataset is: class names, image shape, counts, source. The one home of these facts.

Ingest writes a :class:`DatasetDescription` beside every span (``dataset.json``); the pipeline
hands it to Transform and the Trainer through their ``custom_config`` (key
:data:`CUSTOM_CONFIG_KEY`); the Trainer exports the class names and input shape with the model.
Every later layer (report, drift, rollout, clients) reads the description or what the model
exported, never constants. It lives in ``models`` (the lowest layer) because the module code that
TFX workers import must read it without knowing the data layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DESCRIPTION_FILE = "dataset.json"
# Images announcing more pixels than this are refused from their header, before decoding, by
# ingest and by the serving signatures that take client bytes: a 30,000 x 30,000 PNG is a few
# hundred kilobytes on disk or on the wire and 2.7 GB once decoded.
MAX_IMAGE_PIXELS = 40_000_000
CUSTOM_CONFIG_KEY = "dataset"
# Where the Trainer exports the description inside a SavedModel: TF Serving's folder for
# files that travel with a model version and that the graph does not read.
MODEL_EXTRA_DIR = "assets.extra"
FORMAT_VERSION = 1

# CIFAR-10's own order (batches.meta 'label_names'); index == class id.
CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class DatasetDescriptionError(ValueError):
    """A dataset description that is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class DatasetDescription:
    """A labelled image dataset as the pipeline sees it.

    ``class_names[i]`` is the name of class id ``i``. ``height``/``width``/``channels`` are the
    model's input shape (images of other sizes are resized to it, in the graph). ``counts`` maps
    split -> class name -> number of images. ``source`` says where the data came from (``kind``:
    ``cifar10`` or ``image_folder``, ``path``, ``layout``) and ``fingerprint`` identifies its
    content, so a changed folder becomes a new span.
    """

    class_names: tuple[str, ...]
    height: int
    width: int
    channels: int
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    def __post_init__(self) -> None:
        names = tuple(self.class_names)
        object.__setattr__(self, "class_names", names)
        if len(names) < 2:
            raise DatasetDescriptionError(
                f"a classifier needs at least 2 classes, got {len(names)}: {list(names)}"
            )
        if len(set(names)) != len(names):
            raise DatasetDescriptionError(f"class names repeat: {list(names)}")
        if any(not isinstance(n, str) or not n for n in names):
            raise DatasetDescriptionError(f"class names must be non-empty strings: {list(names)}")
        for what, value in (("height", self.height), ("width", self.width)):
            if not isinstance(value, int) or value < 1:
                raise DatasetDescriptionError(f"image {what} must be a positive int, got {value!r}")
        if self.channels not in (1, 3):
            raise DatasetDescriptionError(f"channels must be 1 or 3, got {self.channels!r}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def with_changes(self, **changes: Any) -> DatasetDescription:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "class_names": list(self.class_names),
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "counts": {split: dict(c) for split, c in self.counts.items()},
            "source": dict(self.source),
            "fingerprint": self.fingerprint,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDescription:
        try:
            return cls(
                class_names=tuple(data["class_names"]),
                height=int(data["height"]),
                width=int(data["width"]),
                channels=int(data["channels"]),
                counts={s: {k: int(v) for k, v in c.items()} for s, c in data["counts"].items()},
                source=dict(data.get("source", {})),
                fingerprint=str(data.get("fingerprint", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, DatasetDescriptionError):
                raise
            raise DatasetDescriptionError(f"not a dataset description: {e!r}") from e

    @classmethod
    def from_json(cls, text: str) -> DatasetDescription:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise DatasetDescriptionError(f"dataset description is not JSON: {e}") from e

    def save(self, directory: str | Path) -> Path:
        """Write ``dataset.json`` into ``directory`` (a span folder) and return its path."""
        path = Path(directory) / DESCRIPTION_FILE
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory_or_file: str | Path) -> DatasetDescription:
        path = Path(directory_or_file)
        if path.is_dir():
            path = path / DESCRIPTION_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            message = f"{path}: cannot read the dataset description: {e}"
            raise DatasetDescriptionError(message) from e
        try:
            return cls.from_json(text)
        except DatasetDescriptionError as e:
            raise DatasetDescriptionError(f"{path}: {e}") from e


def exported_description_path(model_dir: str | Path) -> Path:
    """``<model_dir>/assets.extra/dataset.json``: the description a Trainer exported."""
    return Path(model_dir) / MODEL_EXTRA_DIR / DESCRIPTION_FILE


def from_model(model_dir: str | Path) -> DatasetDescription:
    """The description exported with the SavedModel in ``model_dir`` (a version folder).

    Models exported before descriptions existed carry none and were CIFAR-10 models: they
    read as :data:`CIFAR10`. A description that is present but unreadable is an error.
    """
    if not Path(model_dir).is_dir():
        raise DatasetDescriptionError(f"{model_dir}: no such model folder")
    path = exported_description_path(model_dir)
    if not path.exists():
        return CIFAR10
    return DatasetDescription.load(path)


def from_custom_config(custom_config: Mapping[str, Any] | None) -> DatasetDescription:
    """The description a component was given (``custom_config[CUSTOM_CONFIG_KEY]``).

    Falls back to CIFAR-10 when absent, so runs configured before descriptions existed (and
    the tests' minimal configs) keep today's behaviour.
    """
    data = (custom_config or {}).get(CUSTOM_CONFIG_KEY)
    if not data:
        return CIFAR10
    if isinstance(data, str):
        return DatasetDescription.from_json(data)
    return DatasetDescription.from_dict(data)


CIFAR10 = DatasetDescription(
    class_names=CIFAR10_CLASS_NAMES,
    height=32,
    width=32,
    channels=3,
    source={"kind": "cifar10"},
)
