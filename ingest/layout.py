"""Which layout a data root is in: CIFAR-10's python batches, an image folder, or split folders.

Detection looks only at names, never at image content, so it is instant on any size of folder:

- ``cifar10``: any of CIFAR-10's batch files (``data_batch_1`` ... ``test_batch``) at the root;
- ``split_folders``: the root's folders are split names (``train``, ``test``, optionally ``eval``
  or ``val``/``valid``/``validation``), with ``train`` and ``test`` among them;
- ``image_folder``: any other folder of sub-folders, one per class.

A layout can also be named (``layout=...``); it is then checked, not guessed.
"""

from __future__ import annotations

from pathlib import Path

from ingest import settings
from ingest.errors import LayoutError
from ingest.walk import is_hidden, visible_subfolders

_CIFAR_FILES = (*settings.TRAIN_BATCHES, settings.TEST_BATCH)


def detect_layout(root: Path, layout: str = settings.LAYOUT_AUTO) -> str:
    """The layout of ``root`` (``layout`` when named and plausible); :class:`LayoutError` naming
    the folder and the accepted layouts otherwise."""
    root = Path(root)
    if layout not in settings.LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}: choose one of {', '.join(settings.LAYOUTS)}")
    if not root.is_dir():
        raise LayoutError(
            f"data root {root} does not exist; pass --data-root or set {settings.DATA_ROOT_ENV} "
            "to an image folder (DIR/<class>/<image>, or DIR/train/<class>/... and "
            "DIR/test/<class>/...) or to a cifar-10-batches-py folder"
        )
    if layout == settings.LAYOUT_CIFAR10:
        return layout
    folders = visible_subfolders(root)
    split_folders = split_folder_map(root)
    if layout == settings.LAYOUT_SPLIT_FOLDERS:
        _check_split_folders(root, folders, split_folders)
        return layout
    if layout == settings.LAYOUT_IMAGE_FOLDER:
        if not folders:
            raise LayoutError(_no_class_folders(root))
        return layout
    if any((root / name).is_file() for name in _CIFAR_FILES):
        return settings.LAYOUT_CIFAR10
    if folders and len(split_folders) == len(folders) and settings.TRAIN_SPLIT in split_folders:
        _check_split_folders(root, folders, split_folders)
        return settings.LAYOUT_SPLIT_FOLDERS
    if settings.TRAIN_SPLIT in split_folders and settings.TEST_SPLIT in split_folders:
        _check_split_folders(root, folders, split_folders)  # names the stray folders
    if not folders:
        raise LayoutError(_no_class_folders(root))
    return settings.LAYOUT_IMAGE_FOLDER


def split_folder_map(root: Path) -> dict[str, Path]:
    """split name -> its folder, for the root's folders named like splits (case-insensitive);
    :class:`LayoutError` when two folders name the same split (``eval/`` and ``val/``)."""
    found: dict[str, Path] = {}
    for folder in visible_subfolders(root):
        split = settings.SPLIT_FOLDER_NAMES.get(folder.name.lower())
        if split is None:
            continue
        if split in found:
            raise LayoutError(
                f"{root}: both {found[split].name}/ and {folder.name}/ would be the {split} split;"
                " keep one"
            )
        found[split] = folder
    return found


def _check_split_folders(root: Path, folders: list[Path], splits: dict[str, Path]) -> None:
    names = ", ".join(f"{p.name}/" for p in folders) or "no folders"
    missing = [s for s in (settings.TRAIN_SPLIT, settings.TEST_SPLIT) if s not in splits]
    if missing:
        raise LayoutError(
            f"{root}: split folders need {' and '.join(f'{m}/' for m in missing)} "
            f"(found {names}); or put the images in {root}/<class>/ and the pipeline carves "
            "train, eval and test itself"
        )
    stray = [p.name for p in folders if p not in splits.values()]
    if stray:
        raise LayoutError(
            f"{root}: folders {', '.join(stray)} are not split folders; the split_folders layout "
            f"holds only {', '.join(sorted(settings.SPLIT_FOLDER_NAMES))} (each with one folder "
            "per class)"
        )


def _no_class_folders(root: Path) -> str:
    files = [p.name for p in root.iterdir() if not is_hidden(p.name) and p.is_file()]
    found = f"found {len(files)} file(s) and no class folders" if files else "it is empty"
    return (
        f"data root {root} is not an image folder ({found}): expected one folder per class "
        "(DIR/<class>/<image>), or DIR/train/<class>/... and DIR/test/<class>/..., or the "
        "cifar-10-batches-py files"
    )
