"""The data layer's errors: one base class every runner catches, subclasses tests can tell apart.

Every problem with the input data becomes a :class:`DataError` whose message names the file or
folder and what to do, so a runner prints it and exits non-zero before anything is trained or
pushed. ``ingest.cifar10.CifarDataError`` is the same class under its historical name, so the
callers written for CIFAR-10 catch the image-folder errors too.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """The input data is missing, corrupt or not in a layout the pipeline reads."""


class LayoutError(DataError):
    """The data root is in no known layout, or not in the one that was named."""


class ClassFolderError(DataError):
    """Class folders that cannot make a classifier: empty, a single class, a class missing
    from a split."""


class ImageSizeError(DataError):
    """Images of different sizes and no ``image_size`` to resize them to."""


class BadImageError(DataError):
    """One image file that cannot be used (corrupt, truncated, unsupported); ``path`` names it."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ImageTooLargeError(BadImageError):
    """An image whose header announces more pixels than ``settings.MAX_IMAGE_PIXELS``: refused
    before decoding (a decompression bomb would otherwise exhaust memory)."""
