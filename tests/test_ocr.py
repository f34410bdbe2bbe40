"""Ad text: phone numbers found in OCR text; OCR skipped with a note without the extra."""

from __future__ import annotations

import numpy as np
import pytest

from detector.evidence.ocr import find_phones, read_text


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("招租 13812345678 王先生", ["13812345678"]),
        ("电话：138-1234-5678", ["13812345678"]),
        ("+86 139 1234 5678", ["13912345678"]),
        ("订餐 021-62345678 或 0571 8765432", ["021-62345678", "0571-8765432"]),
        ("服务热线 400-820-8820", ["4008208820"]),
        ("全角 １３８１２３４５６７８", ["13812345678"]),
        ("重复 13812345678 / 13812345678", ["13812345678"]),
        ("编号 123456789012345 不是电话", []),
        ("12812345678 不是手机号", []),
        ("开业大酬宾 全场五折", []),
    ],
)
def test_find_phones(text: str, phones: list[str]) -> None:
    assert find_phones(text) == phones


def test_read_text_without_extra() -> None:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        result = read_text(np.zeros((32, 64, 3), np.uint8))
        assert result.engine is None and result.lines == [] and "ocr extra" in (result.note or "")
    else:
        pytest.skip("the ocr extra is installed")


def test_read_text_real_engine() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from PIL import Image, ImageDraw

    from detector.evidence.render import _font, find_cjk_font

    font = _font(find_cjk_font(), 36)
    image = Image.new("RGB", (520, 140), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), "旺铺招租 13812345678", font=font, fill=(0, 0, 0))
    draw.text((10, 70), "电话 021-62345678", font=font, fill=(200, 0, 0))
    result = read_text(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
    assert result.engine is not None and result.engine.startswith("rapidocr-onnxruntime")
    assert "招租" in result.text
    assert result.phones == ["13812345678", "021-62345678"]
