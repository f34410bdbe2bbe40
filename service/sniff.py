"""File types by magic bytes: what a part really is, whatever it says it is."""

from __future__ import annotations

import json

ALLOWED_MIMES: frozenset[str] = frozenset(
    {"image/jpeg", "image/png", "image/webp", "video/mp4", "video/webm", "application/json", "text/plain"}
)


def sniff(data: bytes) -> str | None:
    """The MIME type ``data`` starts like, or None when unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth
            return None
        return "application/json"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text/plain"
    return None


def check_type(name: str, declared: str, data: bytes) -> str | None:
    """Why the file does not match its declared type, or None when it does."""
    base = declared.split(";")[0].strip().lower()
    if base not in ALLOWED_MIMES:
        return f"file {name}: type {declared!r} is not accepted (allowed: {', '.join(sorted(ALLOWED_MIMES))})"
    found = sniff(data)
    if found != base:
        return f"file {name}: declared {base} but its content is {found or 'of unknown type'}"
    return None
