"""The ingest options a user gives (``--image-size HxW``, ``--channels``, ``--layout``,
``--limit``): parsed and checked in one place for every runner (CLI, Airflow, release loop),
each mistake a :class:`DataError` that says what is accepted."""

from __future__ import annotations

import re

from ingest import settings
from ingest.errors import DataError

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×,]\s*(\d+)\s*$")


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """``"224x224"`` (height x width) -> ``(224, 224)``; None or empty -> None."""
    if text is None or not str(text).strip():
        return None
    match = _SIZE.match(str(text))
    if not match:
        raise DataError(f"image size {text!r} is not HEIGHTxWIDTH (e.g. 224x224)")
    size = (int(match.group(1)), int(match.group(2)))
    check_options(image_size=size)
    return size


def check_options(
    *,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    layout: str = settings.LAYOUT_AUTO,
) -> None:
    """Raise :class:`DataError` for an option no dataset could satisfy."""
    if image_size is not None:
        if len(image_size) != 2 or any(not isinstance(v, int) or v < 1 for v in image_size):
            raise DataError(
                f"image size must be two positive integers (height, width): {image_size}"
            )
        if image_size[0] * image_size[1] > settings.MAX_IMAGE_PIXELS:
            raise DataError(
                f"image size {image_size[0]}x{image_size[1]} is over the "
                f"{settings.MAX_IMAGE_PIXELS:,}-pixel limit"
            )
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of images, got {limit}")
    if layout not in settings.LAYOUTS:
        raise DataError(f"unknown layout {layout!r}: choose one of {', '.join(settings.LAYOUTS)}")
