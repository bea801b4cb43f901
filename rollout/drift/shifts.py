"""Simulated input shifts for the drift benchmark, the offline drift check and the demo.

Each image shift maps uint8 images [N, H, W, C] (any size, C = 1 gray or 3 colour) to uint8
images of the same shape, at one
fixed, documented severity (moderate: a person would notice it, the images stay
recognisable). ``class_prior`` is not an image transform (it re-weights which images
arrive; see :func:`class_prior_window`), and ``unlike_cifar`` replaces the images with
synthesized ones (:func:`unlike_cifar`), since there is no internet here to fetch real
non-CIFAR photos: random noise textures, solid colours, text-like glyph rows,
checkerboards and colour gradients.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from models.dataset import CIFAR10


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def brightness(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """+38 grey levels (15 % of the range), clipped."""
    return _clip(images.astype(np.float32) + 38)


def contrast(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Each image's deviations from its own mean scaled by 0.6."""
    x = images.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return _clip(mean + 0.6 * (x - mean))


def blur(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian blur, sigma 1 pixel."""
    from scipy.ndimage import gaussian_filter

    return _clip(gaussian_filter(images.astype(np.float32), sigma=(0, 1.0, 1.0, 0)))


def noise(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Additive Gaussian noise, sd 13 grey levels (5 % of the range), per pixel and channel."""
    rng = rng or np.random.default_rng(0)
    return _clip(images.astype(np.float32) + rng.normal(0.0, 13.0, images.shape))


def jpeg(
    images: np.ndarray, rng: np.random.Generator | None = None, quality: int = 30
) -> np.ndarray:
    """JPEG round trip at quality 30 (PIL, 4:2:0 chroma subsampling)."""
    from PIL import Image

    out = np.empty_like(images)
    gray = images.shape[-1] == 1
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if gray else image).save(
            buffer, format="JPEG", quality=quality
        )
        decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("L" if gray else "RGB")
        out[i] = np.asarray(decoded).reshape(image.shape)
    return out


def grayscale(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Luma (ITU-R 601) copied to all three channels (gray images stay as they are)."""
    if images.shape[-1] == 1:
        return images.copy()
    gray = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return _clip(np.repeat(gray[..., None], 3, axis=3))


def inverted(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """255 - x (photographic negatives)."""
    return 255 - images


def darkened(images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """x * 0.5 (under-exposure)."""
    return _clip(images.astype(np.float32) * 0.5)


def unlike_cifar(
    count: int,
    rng: np.random.Generator | None = None,
    shape: tuple[int, int, int] = CIFAR10.image_shape,
) -> np.ndarray:
    """``count`` synthesized non-photographic images of ``shape`` (height, width, channels),
    an even mix of five kinds."""
    rng = rng or np.random.default_rng(0)
    h, w, c = shape
    out = np.empty((count, h, w, c), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(count):
        kind = i % 5
        if kind == 0:  # noise texture, random mean and spread
            image = rng.normal(rng.uniform(40, 215), rng.uniform(10, 70), (h, w, c))
        elif kind == 1:  # solid colour
            image = np.broadcast_to(rng.uniform(0, 255, c), (h, w, c))
        elif kind == 2:  # text-like: rows of dark glyph blocks on a light page
            image = np.full((h, w, c), rng.uniform(200, 255))
            for row in range(2, h - 6, 8):
                for col in range(1, w - 3, 4):
                    if rng.random() < 0.7:
                        glyph = rng.random((5, 3)) < 0.5
                        image[row : row + 5, col : col + 3][glyph] = rng.uniform(0, 60)
        elif kind == 3:  # checkerboard of two random colours
            size = int(rng.choice([2, 4, 8]))
            mask = ((yy // size + xx // size) % 2).astype(bool)
            image = np.where(mask[..., None], rng.uniform(0, 255, c), rng.uniform(0, 255, c))
        else:  # linear colour gradient
            angle = rng.uniform(0, 2 * np.pi)
            t = (np.cos(angle) * xx + np.sin(angle) * yy) / (h + w) + 0.5
            start, end = rng.uniform(0, 255, c), rng.uniform(0, 255, c)
            image = start + t[..., None] * (end - start)
        out[i] = _clip(image)
    return out


ImageShift = Callable[..., np.ndarray]

IMAGE_SHIFTS: dict[str, ImageShift] = {
    "brightness": brightness,
    "contrast": contrast,
    "blur": blur,
    "noise": noise,
    "jpeg": jpeg,
    "grayscale": grayscale,
    "inverted": inverted,
    "darkened": darkened,
}
UNLIKE_CIFAR = "unlike_cifar"  # replaces the images instead of transforming them
NO_SHIFT = "none"
SHIFT_NAMES = (NO_SHIFT, *IMAGE_SHIFTS, UNLIKE_CIFAR)  # every name apply() takes
CLASS_PRIOR = "class_prior"  # a shift of the label mix (class_prior_window), not of images
CLASS_PRIOR_SHARE = 0.5  # class_prior: half of the window is one class (1/K normally)


def class_prior_window(
    labels: np.ndarray,
    size: int,
    rng: np.random.Generator,
    share: float = CLASS_PRIOR_SHARE,
    num_classes: int | None = None,
) -> np.ndarray:
    """Indices of a window where one random class (of ``num_classes``; default: up to the
    highest label) makes up ``share`` (rest as usual)."""
    target = int(rng.integers(num_classes or int(np.max(labels)) + 1))
    of_class = np.flatnonzero(labels == target)
    others = np.flatnonzero(labels != target)
    n_class = min(int(round(size * share)), len(of_class))
    return np.concatenate(
        [
            rng.choice(of_class, n_class, replace=False),
            rng.choice(others, size - n_class, replace=False),
        ]
    )


def apply(name: str, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shift ``images`` by the named image shift, or replace them (``unlike_cifar``)."""
    if name == NO_SHIFT:
        return images
    if name == UNLIKE_CIFAR:
        return unlike_cifar(len(images), rng, tuple(images.shape[1:]))  # type: ignore[arg-type]
    if name not in IMAGE_SHIFTS:
        raise ValueError(f"unknown shift {name!r}; known: {', '.join(SHIFT_NAMES)}")
    return IMAGE_SHIFTS[name](images, rng)
