"""The ingest options (image size, channels, limit, layout) checked where the data layer is
entered, so any caller of :func:`ingest.spans.prepare_span` (not only the run flags, which
``pipeline.run_config`` parses) gets a :class:`DataError` saying what is accepted."""

from __future__ import annotations

from ingest import settings
from ingest.errors import DataError


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
