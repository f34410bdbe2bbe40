"""Canonical JSON (RFC 8785 / JCS): the bytes that are signed and hashed."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from nce.manifest._errors import ManifestError

_MAX_SAFE_INT = 2**53 - 1


def _es_number(value: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise ManifestError(f"canonical JSON cannot hold {value!r} (NaN and infinities are not JSON)")
    if value == 0.0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() is the shortest round-trip form, as ECMAScript requires; take its digits and exponent
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # position of the decimal point relative to the first significant digit
    lead_zeros = len(int_part + frac_part) - len((int_part + frac_part).lstrip("0"))
    n = len(int_part) - lead_zeros + exp
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        e_text = f"e+{e}" if e >= 0 else f"e-{-e}"
        out = (digits if k == 1 else digits[0] + "." + digits[1:]) + e_text
    return sign + out


def _es_string(value: str) -> str:
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ManifestError(f"canonical JSON cannot hold a lone surrogate in {value!r}")
    # json.dumps escapes exactly ", \, \b \f \n \r \t and other controls as \u00xx (lowercase)
    return json.dumps(value, ensure_ascii=False)


# what json.dumps(value, ensure_ascii=False) does to a str (the C function itself): the escapes of
# _es_string without its per-character surrogate check (canonical_json checks the whole text once)
_quote = json.encoder.encode_basestring


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _canon(value: Any, out: list[str]) -> None:
    # the exact built-in types first (what json.loads and model_dump(mode="json") make), each in one
    # step; anything else (a subclass, a Mapping, a tuple) by the general rules below
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif kind is dict:
        keys = list(value)
        if all(type(key) is str and key.isascii() for key in keys):
            keys.sort()  # ASCII: code point order is UTF-16 code unit order
        else:
            _check_keys(keys)
            keys.sort(key=_utf16_key)
        _members(value, keys, _quote, out)
    elif kind is list or kind is tuple:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canon(item, out)
        out.append("]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ManifestError(f"canonical JSON cannot hold the integer {value} exactly (beyond 2^53)")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_es_number(value))
    elif isinstance(value, str):
        out.append(_es_string(value))
    elif isinstance(value, Mapping):
        _check_keys(value)
        _members(value, sorted(value, key=_utf16_key), _es_string, out)
    elif isinstance(value, list | tuple):
        _canon(list(value), out)
    else:
        raise ManifestError(f"canonical JSON cannot hold a {type(value).__name__}: {value!r}")


def _members(value: Any, keys: list[str], quote: Callable[[str], str], out: list[str]) -> None:
    """An object's members in the order of ``keys`` (sorted by the caller), keys written by ``quote``."""
    out.append("{")
    for i, key in enumerate(keys):
        if i:
            out.append(",")
        out.append(quote(key))
        out.append(":")
        _canon(value[key], out)
    out.append("}")


def _check_keys(keys: Any) -> None:
    for key in keys:
        if not isinstance(key, str):
            raise ManifestError(f"canonical JSON object keys must be strings, got {key!r}")


def _raise_on_surrogate(value: Any) -> None:
    """Raise the ManifestError of the first string (key or value) holding a surrogate code point."""
    if isinstance(value, str):
        _es_string(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _es_string(key)
            _raise_on_surrogate(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _raise_on_surrogate(item)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical form of a JSON value (dict, list, str, int, float, bool, None)."""
    out: list[str] = []
    _canon(value, out)
    text = "".join(out)
    try:
        return text.encode("utf-8")  # strict: a surrogate code point (U+D800..U+DFFF) cannot be encoded
    except UnicodeEncodeError:
        _raise_on_surrogate(value)
        raise  # not reached: only a string of the value can hold one


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
