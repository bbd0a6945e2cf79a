"""Image decoding: every chest X-ray becomes an 8-bit grey array, whatever its PNG mode."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from bench.errors import BenchError

# Antialiased, exact (no reducing_gap shortcut) bilinear: the filter torchvision's
# Resize(antialias=True) applies, as in the CheXNet line of work. It is deterministic for a
# given Pillow version, so an image cache reproduces the same pixels.
RESAMPLE = Image.Resampling.BILINEAR

# What a damaged PNG can raise while Pillow decodes it.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


class ImageError(BenchError):
    """An image that is missing or cannot be decoded; the message names the file."""


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise ImageError(
            f"image not found: {path}",
            hint="check that --data points at the NIH root and that every images_0NN tarball is extracted",
        )
    image = None
    try:
        image = Image.open(path)
        image.load()
    except _DECODE_ERRORS as exc:
        if image is not None:
            image.close()
        raise ImageError(
            f"cannot decode image {path}: {exc}",
            hint="the file is corrupt or truncated; extract it again from the NIH tarball",
        ) from exc
    return image


def _to_grey(image: Image.Image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey: scale the full 0..65535 range to 0..255 with `>> 8` (floor of v / 256),
        # so an 8-bit value stored as v * 257 comes back exactly. "I" (32-bit) is clipped to 16 bits.
        values = np.asarray(image).astype(np.int64)
        return (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
    if mode == "F":
        raise ImageError(
            f"cannot decode image {path}: floating-point images (mode F) are not supported",
            hint="store chest X-rays as 8- or 16-bit grey PNGs",
        )
    # L stays; LA/RGBA drop alpha (opaque in NIH's few RGBA files); RGB, P, 1, CMYK -> ITU-R 601 luma.
    if mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def read_grey(path: str | Path) -> np.ndarray:
    """The image at `path` as uint8 (H, W); ImageError if missing or corrupt."""
    path = Path(path)
    with _open(path) as image:
        return _to_grey(image, path)


def read_resized(path: str | Path, size: int) -> np.ndarray:
    """The image at `path` as uint8 (size, size), resized with antialiased bilinear filtering.

    Non-square images are stretched, not cropped (NIH images are all square).
    """
    grey = read_grey(path)
    if grey.shape == (size, size):
        return grey
    resized = Image.fromarray(grey).resize((size, size), RESAMPLE)
    return np.asarray(resized, dtype=np.uint8)
