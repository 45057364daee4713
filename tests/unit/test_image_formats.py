"""Pixel formats real exports have, on real images: scikit-learn's handwritten digits (UCI, 8x8,
16 grey levels), written as 16-bit, palette, RGBA and grey+alpha PNGs. Each is converted by the
stated rule (lake/formats.py) or refused with its reason; oversized images are refused unread."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from include.retrain import config
from include.retrain.lake.formats import decode_image, image_array
from include.retrain.quality.image import validate_image_files

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().images[0] * 255 / 16).round().astype(np.uint8)  # 8x8, 0..255


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_8_bit_gray_is_read_as_is(digit):
    _, gray, mode, size, note = decode_image(_png(Image.fromarray(digit, "L")))
    assert mode == "L" and size == (8, 8) and note is None
    np.testing.assert_array_equal(gray, digit)


def test_16_bit_gray_is_scaled_from_its_full_range(digit):
    body = _png(Image.fromarray(digit.astype(np.uint16) * 257))  # the same picture in 16 bits
    _, gray, mode, _, note = decode_image(body)
    assert mode.startswith("I") and note.startswith("16-bit")
    np.testing.assert_allclose(gray, digit, atol=0.5)
    np.testing.assert_allclose(image_array(body, (8, 8))[0], digit, atol=0.5)  # training sees the same


def test_palette_and_colour_go_through_luminance(digit):
    rgb = np.stack([digit, digit, digit], axis=-1)
    palette = Image.fromarray(rgb, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    _, gray, _, _, note = decode_image(_png(palette))
    assert note == "P converted to gray"
    assert np.abs(gray - digit).mean() < 10  # 16 palette entries for 16 grey levels


def test_transparency_is_flattened_onto_white(digit):
    alpha = np.where(digit > 0, 255, 0).astype(np.uint8)  # the background fully transparent
    rgba = Image.fromarray(np.stack([digit, digit, digit, alpha], axis=-1), "RGBA")
    _, gray, _, _, note = decode_image(_png(rgba))
    assert note == "RGBA flattened onto white and converted to gray"
    assert (gray[digit == 0] == 255).all() and np.allclose(gray[alpha == 255], digit[alpha == 255], atol=1)
    la = Image.fromarray(np.stack([digit, alpha], axis=-1), "LA")
    assert decode_image(_png(la))[4] == "LA flattened onto white and converted to gray"


def test_an_oversized_image_is_refused_from_its_header():
    body = _png(Image.new("L", (8000, 8000)))  # 64 M pixels of zeros: a small file
    with pytest.raises(ValueError, match=r"oversized: 8000x8000 = 64,000,000 pixels > 50,000,000 \(not decoded\)"):
        decode_image(body)


def test_a_floating_point_image_is_refused_with_its_reason():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.float32), "F").save(buf, format="TIFF")
    with pytest.raises(ValueError, match=r"floating-point image \(mode F\)"):
        decode_image(buf.getvalue())


def test_validation_accepts_converted_images_and_says_so_unless_a_mode_is_required(digit):
    spec = config.ImageSpec(size=(8, 8), labels=["zero", "one"])
    ds = config.get("cast_metal").model_copy(
        update={"image": spec, "validation": config.Validation(min_blur=0.0, min_std=1.0, min_mean=1.0)}
    )
    files = {
        "dt=2026-11-01/zero/a.png": _png(Image.fromarray(digit.astype(np.uint16) * 257)),
        "dt=2026-11-01/one/b.png": _png(
            Image.fromarray(np.stack([digit] * 3 + [np.full_like(digit, 255)], -1), "RGBA")
        ),
    }
    report = validate_image_files(ds, files)
    assert report.passed and not report.bad
    assert {f.path.rsplit("/", 1)[1]: f.notes for f in report.files} == {
        "a.png": ["16-bit I;16 scaled to 8-bit gray (value / 257)"],
        "b.png": ["RGBA flattened onto white and converted to gray"],
    }
    strict = ds.model_copy(update={"image": spec.model_copy(update={"mode": "L"})})
    reasons = {f.path: f.reasons for f in validate_image_files(strict, files).files}
    assert reasons["dt=2026-11-01/one/b.png"] == ["mode RGBA, expected L (image.mode)"]


def test_pillows_decompression_bomb_guard_is_a_refusal_not_a_traceback(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses beyond twice this
    with pytest.raises(ValueError, match=r"^oversized: Image size \(10000 pixels\) exceeds limit"):
        decode_image(_png(Image.new("L", (100, 100))))
