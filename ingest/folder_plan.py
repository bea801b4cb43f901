"""Plan an image-folder dataset: its classes, every image's split and label, and a fingerprint.

Planning reads folder listings and file metadata only (no image content), so it costs a
fraction of a second for 20,000 files and decides, before anything is written, whether the
folder makes a classifier at all: an empty class folder, a single class, or a class missing from
a split is a :class:`ClassFolderError` naming the folder. An empty class folder is an error, not
ignored: dropping it would silently shift the ids of every class sorted after it.

Splits: with ``split_folders`` the folders say; missing ``eval/`` is carved from ``train/``. With
``image_folder`` the pipeline carves test (``test_fraction``) and eval (``eval_fraction`` of the
rest) per class, so every class appears in every split in proportion. Each image's place comes
from a hash of the seed and its relative path, never from listing order: adding images to a
class moves at most one existing image across each boundary, and renaming a folder elsewhere
moves none.

Fingerprint (:func:`ingest.walk.digest_files`): relative path, size and modification time (ns)
of every image, hashed. Stat-ing 20,000 files is cheap where reading them is not (content
hashes would read every byte on every run just to find nothing changed), and any edit changes a
size or an mtime; a copy that does not keep mtimes gets a new span, which is safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ingest import settings
from ingest.errors import ClassFolderError
from ingest.layout import split_folder_map
from ingest.walk import (
    HIDDEN,
    Skipped,
    digest_files,
    image_files,
    is_hidden,
    relative,
    visible_subfolders,
)

NOT_IN_A_CLASS_FOLDER = "not in a class folder"  # a loose file beside the class folders


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One image's place in the dataset; small (a few hundred bytes with its path) because a
    plan holds one per image."""

    relative: str  # to the data root, POSIX separators: the image's identity
    label: int
    split: str
    key: int  # hash of seed and relative path: split carving and write order


@dataclass(frozen=True)
class FolderPlan:
    root: Path
    layout: str
    class_names: tuple[str, ...]
    images: tuple[PlannedImage, ...]  # grouped by split (train, eval, test), by key within one
    ignored: tuple[Skipped, ...]
    fingerprint: str

    def path(self, image: PlannedImage) -> Path:
        return self.root / image.relative


def plan_folder(
    root: Path,
    layout: str,
    *,
    eval_fraction: float = settings.EVAL_FRACTION,
    test_fraction: float = settings.TEST_FRACTION,
    seed: int = settings.SPLIT_SEED,
    limit: int | None = None,
) -> FolderPlan:
    """Plan ``root`` (in ``layout``: ``image_folder`` or ``split_folders``)."""
    root = Path(root)
    ignored: list[Skipped] = []
    digest = hashlib.sha256()
    if layout == settings.LAYOUT_SPLIT_FOLDERS:
        sources = split_folder_map(root)
        _ignore_loose_entries(root, set(sources.values()), ignored)
        by_split = {
            split: _class_folders(folder, root, ignored) for split, folder in sources.items()
        }
        class_names = tuple(by_split[settings.TRAIN_SPLIT])
        _check_class_count(sources[settings.TRAIN_SPLIT], class_names)
        _check_same_classes(sources, by_split)
    else:
        by_split = {settings.TRAIN_SPLIT: _class_folders(root, root, ignored)}
        class_names = tuple(by_split[settings.TRAIN_SPLIT])
        _check_class_count(root, class_names)

    images: list[PlannedImage] = []
    for split, classes in by_split.items():
        for label, name in enumerate(class_names):
            found = list(image_files(classes[name], root, ignored))
            if not found:
                raise ClassFolderError(_empty_class_message(classes[name], name, label))
            digest_files(digest, found)
            keyed = sorted((_key(seed, f.relative), f.relative) for f in found)
            for key, path, image_split in _carve(
                keyed, split, by_split, eval_fraction, test_fraction, classes[name]
            ):
                images.append(PlannedImage(path, label, image_split, key))
    if limit is not None:
        images = _limited(images, limit)
        _check_every_class_in_every_split(root, class_names, images, limit)
    order = {settings.TRAIN_SPLIT: 0, settings.EVAL_SPLIT: 1, settings.TEST_SPLIT: 2}
    images.sort(key=lambda i: (order[i.split], i.key))
    return FolderPlan(root, layout, class_names, tuple(images), tuple(ignored), digest.hexdigest())


def _class_folders(folder: Path, root: Path, ignored: list[Skipped]) -> dict[str, Path]:
    """class name -> folder, sorted by name (the class ids); loose files are ignored."""
    _ignore_loose_entries(folder, set(visible_subfolders(folder)), ignored, root)
    return {p.name: p for p in visible_subfolders(folder)}


def _ignore_loose_entries(
    folder: Path, keep: set[Path], ignored: list[Skipped], root: Path | None = None
) -> None:
    for path in sorted(folder.iterdir()):
        if path not in keep:
            reason = HIDDEN if is_hidden(path.name) else NOT_IN_A_CLASS_FOLDER
            ignored.append(Skipped(relative(path, root or folder), reason))


def _check_class_count(folder: Path, class_names: tuple[str, ...]) -> None:
    if len(class_names) >= 2:
        return
    found = f"only the class folder {class_names[0]!r}" if class_names else "no class folder"
    hint = ""
    if class_names and len(visible_subfolders(folder / class_names[0])) >= 2:
        hint = f" (are the class folders one level down, in {folder / class_names[0]}?)"
    raise ClassFolderError(
        f"{folder}: {found}; a classifier needs at least two classes (one folder per class)" + hint
    )


def _check_same_classes(sources: dict[str, Path], by_split: dict[str, dict[str, Path]]) -> None:
    train = set(by_split[settings.TRAIN_SPLIT])
    for split, classes in by_split.items():
        missing, extra = sorted(train - set(classes)), sorted(set(classes) - train)
        if missing:
            raise ClassFolderError(
                f"{sources[split]}: class(es) {', '.join(missing)} of "
                f"{sources[settings.TRAIN_SPLIT]} have no folder in the {split} split; every "
                f"class needs {split} images"
            )
        if extra:
            raise ClassFolderError(
                f"{sources[split]}: class(es) {', '.join(extra)} are not in "
                f"{sources[settings.TRAIN_SPLIT]}; a class the model never trains on cannot be "
                "tested"
            )


def _empty_class_message(folder: Path, name: str, label: int) -> str:
    return (
        f"{folder}: class folder {name!r} holds no images (it would be class id {label}); add "
        f"images or remove the folder (image files end in "
        f"{', '.join(sorted(settings.IMAGE_EXTENSIONS))}; hidden and 0-byte files do not count)"
    )


def _key(seed: int, relative_path: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{relative_path}".encode()).digest()[:8], "big")


def _carve(
    keyed: list[tuple[int, str]],
    split: str,
    by_split: dict[str, dict[str, Path]],
    eval_fraction: float,
    test_fraction: float,
    folder: Path,
) -> list[tuple[int, str, str]]:
    """Assign each (key, relative path) of one class folder a split: the lowest keys go to test, the
    next to eval, the rest to train, when the layout does not say."""
    n = len(keyed)
    n_test = 0
    if split == settings.TRAIN_SPLIT and settings.TEST_SPLIT not in by_split:
        n_test = max(1, round(n * test_fraction))
    n_eval = 0
    if split == settings.TRAIN_SPLIT and settings.EVAL_SPLIT not in by_split:
        n_eval = max(1, round((n - n_test) * eval_fraction))
    if n - n_test - n_eval < 1:
        carved = " and ".join(s for s, k in (("test", n_test), ("eval", n_eval)) if k)
        raise ClassFolderError(
            f"{folder}: {n} image(s) are too few to carve {carved} from and keep training "
            f"images; this class needs at least {n_test + n_eval + 1}"
        )
    splits = [settings.TEST_SPLIT] * n_test + [settings.EVAL_SPLIT] * n_eval
    splits += [split] * (n - n_test - n_eval)
    return [(key, path, s) for (key, path), s in zip(keyed, splits, strict=True)]


def _limited(images: list[PlannedImage], limit: int) -> list[PlannedImage]:
    """At most ``limit`` training images (train and eval together) and ``limit`` test images,
    chosen by key (an even draw across classes), as ``limit`` caps CIFAR-10's batches."""
    test = sorted((i for i in images if i.split == settings.TEST_SPLIT), key=lambda i: i.key)
    train = sorted((i for i in images if i.split != settings.TEST_SPLIT), key=lambda i: i.key)
    return train[:limit] + test[:limit]


def _check_every_class_in_every_split(
    root: Path, class_names: tuple[str, ...], images: list[PlannedImage], limit: int
) -> None:
    present = {(i.split, i.label) for i in images}
    for split in (settings.TRAIN_SPLIT, settings.EVAL_SPLIT, settings.TEST_SPLIT):
        missing = [n for label, n in enumerate(class_names) if (split, label) not in present]
        if missing:
            raise ClassFolderError(
                f"{root}: with limit={limit}, class(es) {', '.join(missing)} have no image in "
                f"the {split} split; raise the limit"
            )
