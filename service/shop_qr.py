"""A shop page's QR code (segno: pure Python, MIT, writes SVG, PDF and PNG without Pillow).

- SVG: a printable A6 card (105 × 148 mm): the shop's name, the QR code (85 mm), the caption
  扫码查看本店整改通知 and the address in small print;
- PDF: the QR code alone, 85 mm square (segno's PDF writer sizes the page to the symbol);
- PNG: the QR code alone, 10 px a module.

Error correction M (15 %): a sticker on a shop door gets dirty.
"""

from __future__ import annotations

import io
import re
from html import escape

import segno

QR_MM = 85.0
_PATH = re.compile(r'\bd="([^"]+)"')
FORMATS = ("svg", "pdf", "png")


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def a6_svg(url: str, *, name: str, caption: str) -> bytes:
    qr = _qr(url)
    size = qr.symbol_size(scale=1, border=4)[0]
    found = _PATH.search(qr.svg_inline(scale=1, border=4))
    if found is None:  # pragma: no cover - segno's output always has one path
        raise RuntimeError("segno wrote no path")
    s = QR_MM / size
    x = (105 - QR_MM) / 2
    svg = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="105mm" height="148mm" viewBox="0 0 105 148">'
        '<rect width="105" height="148" fill="#fff"/>'
        f'<text x="52.5" y="18" font-size="7" text-anchor="middle" font-family="sans-serif">{escape(name)}</text>'
        f'<g transform="translate({x:.3f} 26) scale({s:.5f})"><path stroke="#000" fill="none" d="{found.group(1)}"/></g>'
        f'<text x="52.5" y="122" font-size="5.5" text-anchor="middle" font-family="sans-serif">{escape(caption)}</text>'
        f'<text x="52.5" y="138" font-size="2.4" text-anchor="middle" font-family="monospace">{escape(url)}</text>'
        "</svg>\n"
    )
    return svg.encode("utf-8")


def qr_file(url: str, kind: str, *, name: str, caption: str) -> bytes:
    """The QR code of ``url`` as ``kind`` (svg: the A6 card; pdf, png: the code alone)."""
    if kind == "svg":
        return a6_svg(url, name=name, caption=caption)
    qr = _qr(url)
    out = io.BytesIO()
    if kind == "pdf":
        size = qr.symbol_size(scale=1, border=4)[0]
        qr.save(out, kind="pdf", scale=QR_MM / 25.4 * 72 / size, border=4)
    elif kind == "png":
        qr.save(out, kind="png", scale=10, border=4)
    else:
        raise ValueError(f"QR format {kind!r}: expected one of {', '.join(FORMATS)}")
    return out.getvalue()
