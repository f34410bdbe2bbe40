"""Ad text: phone numbers found in OCR text; OCR skipped with a note without the extra; with the
extra, the real engine reads a Chinese banner offline."""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from detector.evidence import ocr
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


def _extra_installed() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("rapidocr", "rapidocr_onnxruntime"))


@pytest.fixture
def fresh_engine() -> Iterator[None]:
    ocr._engine.cache_clear()
    yield
    ocr._engine.cache_clear()


@pytest.mark.optional("the ocr extra is installed")  # make test installs it: this runs without it
def test_read_text_without_extra(fresh_engine: None) -> None:
    if _extra_installed():
        pytest.skip("the ocr extra is installed")
    result = read_text(np.zeros((32, 64, 3), np.uint8))
    assert result.engine is None and result.lines == [] and "ocr extra" in (result.note or "")


def _banner() -> npt.NDArray[np.uint8]:
    """A shop banner as a camera crop would hold it (BGR), drawn with Debian's fonts-noto-cjk."""
    from PIL import Image, ImageDraw

    from detector.evidence.render import _font, find_cjk_font

    noto = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    font = _font(find_cjk_font(noto if os.path.isfile(noto) else None), 36)
    image = Image.new("RGB", (560, 150), (250, 240, 200))
    draw = ImageDraw.Draw(image)
    draw.text((14, 12), "旺铺招租 13812345678", font=font, fill=(0, 0, 0))
    draw.text((14, 80), "办证电话 021-62345678", font=font, fill=(200, 0, 0))
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def test_read_text_real_engine(fresh_engine: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rapidocr")  # what the ocr extra installs

    def offline(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("OCR tried to reach the network (a model download?)")

    monkeypatch.setattr(socket.socket, "connect", offline)
    result = read_text(_banner())
    assert result.note is None, result.note
    assert result.engine is not None and result.engine.startswith("rapidocr 3.")
    assert "旺铺招租" in result.text and "办证电话" in result.text
    assert result.phones == ["13812345678", "021-62345678"]
    assert len(result.lines) == 2 and all(len(line.box) == 4 for line in result.lines)
    assert result.lines[0].box[0][1] < result.lines[1].box[0][1]  # top line first
    assert all(0.5 <= line.score <= 1.0 for line in result.lines)

    blank = read_text(np.full((120, 300, 3), 255, np.uint8))
    assert blank.note is None and blank.lines == [] and blank.text == "" and blank.phones == []


def test_read_text_refuses_to_download(
    fresh_engine: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rapidocr = pytest.importorskip("rapidocr")
    (tmp_path / "rapidocr" / "models").mkdir(parents=True)  # a build without bundled models
    monkeypatch.setattr(rapidocr, "__file__", str(tmp_path / "rapidocr" / "__init__.py"))
    result = read_text(np.zeros((32, 64, 3), np.uint8))
    assert result.engine is None and result.lines == []
    assert "no bundled det/cls/rec model" in (result.note or "")
