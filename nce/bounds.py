"""The bounds of every contract field, defined once.

The site config, the hit events, the evidence manifest and the service's request bodies all take
their strings, integers and times from here, and the service's columns are sized from the same
constants (``String(ID_MAX)``), so that whatever the edge can produce the service can store
(``tests/security/test_bounds.py`` walks every contract and column to prove it):

=====================  ==========================================================================
type                   what it accepts
=====================  ==========================================================================
:data:`Id`             1-64 of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit
:data:`HitId`          the same characters, 1-128 (:func:`capped_id` keeps the edge's ids within)
:data:`Label`          1-64 characters, no control characters (class names, kinds, versions)
:data:`Name`           1-200 characters, no control characters (names for people)
:data:`Code`           1-64 characters, no control characters (shop code, licence number)
:data:`Address`        1-300 characters, no control characters
:data:`Contact`        1-100 characters, no control characters
:data:`Text`           0-2000 characters; tab, CR and LF are the only control characters allowed
:data:`LongText`       the same, 0-20000 characters (OCR text)
:data:`Password`       1-1024 characters, the same control characters as Text
:data:`Mime`           ``type/subtype`` with optional ``; name=value`` parameters, at most 100
:data:`Sha256Hex`      64 lowercase hex digits
:data:`Int32`          -2**31 .. 2**31-1 (an ``Integer`` column); :data:`Count`: 0 .. 2**31-1
:data:`Index`          0 .. 2**53-1 (frame numbers, track ids: JSON only, never a column)
:data:`UtcTime`        a time with a UTC offset, years 1900-2999, returned in UTC
:data:`TimeInRange`    a time with or without an offset, years 1900-2999 (query filters)
=====================  ==========================================================================

"No control characters" also refuses lone surrogates (text that cannot be UTF-8) and NUL, which
PostgreSQL cannot store. Only pydantic and the standard library here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

__all__ = [
    "ADDRESS_MAX",
    "CODE_MAX",
    "CONTACT_MAX",
    "CURSOR_MAX",
    "FILE_NAME_MAX",
    "HIT_ID_MAX",
    "HIT_ID_PATTERN",
    "IDEMPOTENCY_KEY_MAX",
    "ID_MAX",
    "ID_PATTERN",
    "INT32_MAX",
    "INT32_MIN",
    "JSON_INT_MAX",
    "LABEL_MAX",
    "LONG_TEXT_MAX",
    "MIME_MAX",
    "MIME_PATTERN",
    "NAME_MAX",
    "PACKAGE_ID_MAX",
    "PASSWORD_MAX",
    "TEXT_MAX",
    "TIME_MAX",
    "TIME_MIN",
    "YEAR_MAX",
    "YEAR_MIN",
    "Address",
    "Code",
    "Contact",
    "Count",
    "HitId",
    "Id",
    "Index",
    "Int32",
    "Label",
    "LongText",
    "Mime",
    "Name",
    "Password",
    "Sha256Hex",
    "Text",
    "TimeInRange",
    "UtcTime",
    "capped_id",
    "check_id",
    "check_mime",
    "check_text",
    "check_time",
    "clean_text",
    "is_mime",
]

ID_MAX = 64
HIT_ID_MAX = 128
PACKAGE_ID_MAX = 128  # a package id is a safe file name (nce.manifest.is_safe_name)
FILE_NAME_MAX = 128
LABEL_MAX = 64
NAME_MAX = 200
CODE_MAX = 64
ADDRESS_MAX = 300
CONTACT_MAX = 100
TEXT_MAX = 2000
LONG_TEXT_MAX = 20000
PASSWORD_MAX = 1024
MIME_MAX = 100
IDEMPOTENCY_KEY_MAX = 200
CURSOR_MAX = 200
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
JSON_INT_MAX = 2**53 - 1  # the largest integer canonical JSON (RFC 8785) holds exactly
YEAR_MIN = 1900
YEAR_MAX = 2999
TIME_MIN = dt.datetime(YEAR_MIN, 1, 1, tzinfo=dt.UTC)
TIME_MAX = dt.datetime(YEAR_MAX, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HIT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # the length is the type's
# C0 controls, DEL, C1 controls and lone surrogates; Text allows tab, LF and CR
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


def check_id(value: str) -> str:
    """An id: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit (the length
    is the type's: :data:`Id` 64, :data:`HitId` 128)."""
    if not _ID.match(value):
        raise ValueError(
            f"expected an id of letters, digits, '.', '_' or '-' (not starting with a symbol), "
            f"got {_shown(value)}"
        )
    return value


def check_text(value: str) -> str:
    """A one-line text: no control characters (NUL, CR, LF, …) and nothing that is not UTF-8."""
    m = _CONTROL.search(value)
    if m:
        raise ValueError(f"control character {m.group()!r} at position {m.start()} is not allowed")
    return value


def _check_long_text(value: str) -> str:
    m = _TEXT_CONTROL.search(value)
    if m:
        raise ValueError(f"control character {m.group()!r} at position {m.start()} is not allowed")
    return value


# RFC 6838 names; a parameter value is a token or a quoted string without control characters
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_MIME_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*"'
MIME_PATTERN = rf"^{_MIME_NAME}/{_MIME_NAME}(?:[ \t]*;[ \t]*{_MIME_TOKEN}=(?:{_MIME_TOKEN}|{_MIME_QUOTED}))*$"
_MIME = re.compile(MIME_PATTERN)


def is_mime(value: str) -> bool:
    """Whether ``value`` is a media type fit for a ``Content-Type`` header (no CR, LF or NUL)."""
    return len(value) <= MIME_MAX and bool(_MIME.match(value)) and not _CONTROL.search(value)


def check_mime(value: str) -> str:
    if not is_mime(value):
        raise ValueError(
            f"expected a media type like image/jpeg (type/subtype, optional ; name=value parameters, "
            f"no control characters), got {_shown(value)}"
        )
    return value


def check_time(value: dt.datetime) -> dt.datetime:
    """``value`` if it lies in years 1900-2999 (an aware one is returned in UTC; a naive one as is).

    The year is checked before any time-zone arithmetic, so that times near year 1 or 9999 are an
    error here and never an overflow later."""
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValueError(f"expected a time in the years {YEAR_MIN}-{YEAR_MAX}, got year {value.year}")
    if value.tzinfo is None:
        return value
    if value.utcoffset() is None:
        raise ValueError("expected a time with a UTC offset (e.g. 2026-11-26T08:00:00Z)")
    utc = value.astimezone(dt.UTC)
    if not TIME_MIN <= utc <= TIME_MAX:
        raise ValueError(f"expected a time in the years {YEAR_MIN}-{YEAR_MAX} (UTC), got {utc.isoformat()}")
    return utc


def _check_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expected a time with a UTC offset (e.g. 2026-11-26T08:00:00Z)")
    return check_time(value)


def clean_text(value: str, max_length: int, *, lines: bool = False) -> str:
    """``value`` made to fit a text field: control characters (tab, CR and LF too, unless
    ``lines``) become spaces and it is cut to ``max_length`` characters. For text the edge did not
    write itself (OCR output, third-party error messages) before it goes into a contract."""
    value = (_TEXT_CONTROL if lines else _CONTROL).sub(" ", value)
    return value if len(value) <= max_length else value[: max_length - 1] + "…"


def capped_id(full: str, max_length: int = HIT_ID_MAX) -> str:
    """``full`` if it fits in ``max_length``; else its first characters, ``-`` and 16 hex digits of
    the SHA-256 of the whole of it (readable, unique as the whole was, and never too long)."""
    if len(full) <= max_length:
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:16]
    return f"{full[: max_length - 17]}-{digest}"


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX),
    AfterValidator(check_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": ID_PATTERN}),
]
HitId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=HIT_ID_MAX),
    AfterValidator(check_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": HIT_ID_MAX, "pattern": HIT_ID_PATTERN}),
]
Label = Annotated[str, StringConstraints(min_length=1, max_length=LABEL_MAX), AfterValidator(check_text)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX), AfterValidator(check_text)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=CODE_MAX), AfterValidator(check_text)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=ADDRESS_MAX), AfterValidator(check_text)]
Contact = Annotated[str, StringConstraints(min_length=1, max_length=CONTACT_MAX), AfterValidator(check_text)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX), AfterValidator(_check_long_text)]
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT_MAX), AfterValidator(_check_long_text)]
Password = Annotated[
    str, StringConstraints(min_length=1, max_length=PASSWORD_MAX), AfterValidator(_check_long_text)
]
Mime = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MIME_MAX),
    AfterValidator(check_mime),
    WithJsonSchema({"type": "string", "minLength": 3, "maxLength": MIME_MAX, "pattern": MIME_PATTERN}),
]
Sha256Hex = Annotated[
    str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$", description="lowercase hex SHA-256")
]
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Index = Annotated[int, Field(ge=0, le=JSON_INT_MAX)]  # frame numbers, track ids: never in a column
UtcTime = Annotated[dt.datetime, AfterValidator(_check_utc)]
TimeInRange = Annotated[dt.datetime, AfterValidator(check_time)]
