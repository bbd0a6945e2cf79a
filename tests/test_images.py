"""Image decoding: every PNG mode NIH (and users) produce becomes exact 8-bit grey."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.data.images import ImageError, read_grey, read_resized
from bench.errors import BenchError


def save(tmp_path, array, name="x.png", mode=None):
    path = tmp_path / name
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path)
    return path


def mode_of(path):
    with Image.open(path) as image:
        return image.mode


def test_grey_round_trip(tmp_path):
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    grey = read_grey(save(tmp_path, pixels))
    assert grey.dtype == np.uint8 and grey.shape == (16, 16)
    np.testing.assert_array_equal(grey, pixels)


# ITU-R 601-2 luma as Pillow computes it: (299 R + 587 G + 114 B) / 1000, rounded in fixed point.
COLOURS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [7, 7, 7], [200, 200, 200]]], dtype=np.uint8)
LUMA = [[76, 150, 29, 7, 200]]


def test_rgb_to_grey(tmp_path):
    np.testing.assert_array_equal(read_grey(save(tmp_path, COLOURS)), LUMA)


def test_rgba_to_grey_ignores_alpha(tmp_path):
    alpha = np.array([[[255], [0], [128], [255], [1]]], dtype=np.uint8)
    path = save(tmp_path, np.concatenate([COLOURS, alpha], axis=2))
    assert mode_of(path) == "RGBA"
    np.testing.assert_array_equal(read_grey(path), LUMA)


def test_la_to_grey(tmp_path):
    path = tmp_path / "la.png"
    Image.frombytes("LA", (2, 1), bytes([10, 0, 250, 255])).save(path)
    assert mode_of(path) == "LA"
    np.testing.assert_array_equal(read_grey(path), [[10, 250]])


def test_palette_to_grey(tmp_path):
    path = tmp_path / "p.png"
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.save(path)
    np.testing.assert_array_equal(read_grey(path), [[76, 29]])


def test_16_bit_scales_the_full_range(tmp_path):
    values = np.array([[0, 255, 256, 257, 1000, 257 * 200, 65280, 65535]], dtype=np.uint16)
    path = save(tmp_path, values)
    assert mode_of(path) == "I;16"
    # v >> 8: an 8-bit value k stored as 257 k comes back as k.
    np.testing.assert_array_equal(read_grey(path), [[0, 0, 1, 1, 3, 200, 255, 255]])


def test_32_bit_integer_is_clipped_to_16_bits(tmp_path):
    path = tmp_path / "i.tiff"
    Image.fromarray(np.array([[-5, 0, 512, 65535, 70000]], dtype=np.int32)).save(path)
    assert mode_of(path) == "I"
    np.testing.assert_array_equal(read_grey(path), [[0, 0, 2, 255, 255]])


def noise_png(tmp_path, name="noise.png"):
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)
    return save(tmp_path, pixels, name)


def test_truncated_png(tmp_path):
    path = noise_png(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        read_grey(path)
    assert str(path) in str(info.value) and "corrupt or truncated" in str(info.value)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImageError) as info:
        read_grey(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "00000001_000.png"
    with pytest.raises(ImageError) as info:
        read_grey(path)
    error = info.value
    assert isinstance(error, BenchError) and error.exit_code == 2
    assert error.message == f"image not found: {path}"
    assert "--data" in error.hint


def test_read_resized_shape_and_constant(tmp_path):
    path = save(tmp_path, np.full((64, 48), 77, dtype=np.uint8))
    small = read_resized(path, 16)
    assert small.dtype == np.uint8 and small.shape == (16, 16)
    assert (small == 77).all()


def test_read_resized_is_deterministic_and_antialiased(tmp_path):
    # A one-pixel checkerboard: antialiasing averages it to mid-grey; sampling would alias.
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    path = save(tmp_path, board)
    first = read_resized(path, 16)
    np.testing.assert_array_equal(first, read_resized(path, 16))
    assert np.abs(first[2:-2, 2:-2].astype(int) - 128).max() <= 1


def test_read_resized_same_size_is_the_image(tmp_path):
    path = noise_png(tmp_path)
    np.testing.assert_array_equal(read_resized(path, 64), read_grey(path))


def test_read_resized_reports_corrupt_files(tmp_path):
    path = tmp_path / "bad.png"
    path.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="bad.png"):
        read_resized(path, 16)
