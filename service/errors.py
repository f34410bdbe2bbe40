"""The case service's exception tree.

::

    ServiceError (nce.errors.NceError)   400: a malformed request (missing header, bad multipart)
    ├── BadRequest       400: the same, named
    ├── NotFound         404: the object does not exist or the caller may not see it
    ├── Forbidden        403: the caller's role may not do this
    ├── Unauthorized     401: no or bad credentials, bad signature
    ├── Conflict         409: the request clashes with the object's state
    ├── Invalid          422: the request is well-formed but wrong (hash mismatch, bad manifest)
    ├── TooLarge         413: the upload is larger than allowed
    ├── UnsupportedMedia 415: a request or file of a content type the endpoint does not take
    └── Unavailable      503: the database or the evidence store cannot be used now (retry)

Routes raise these; one exception handler maps them to HTTP responses ``{"detail": "…"}``.

Bad input that still gets past the request types as a third-party error (a value the database
refuses, an overflow, a recursion, text that is not Unicode) is translated here, by
:func:`translate`, and nowhere else: such a request is answered 422, never 500, so that an edge box
drops it instead of retrying it for ever. A request body or parameter that does not fit its type is
a 422 whose ``detail`` lists each problem with the field's ``loc`` (:func:`request_errors`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DataError

from nce.errors import NceError


class ServiceError(NceError):
    status_code: int = 400


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Unauthorized(ServiceError):
    status_code = 401


class Conflict(ServiceError):
    status_code = 409


class Invalid(ServiceError):
    status_code = 422


class TooLarge(ServiceError):
    status_code = 413


class BadRequest(ServiceError):
    status_code = 400


class UnsupportedMedia(ServiceError):
    status_code = 415


class Unavailable(ServiceError):
    status_code = 503


# third-party errors that bad input can cause; the app hands each to translate()
TRANSLATED: tuple[type[Exception], ...] = (DataError, OverflowError, RecursionError, UnicodeEncodeError)


def translate(exc: Exception) -> ServiceError:
    """The :class:`ServiceError` for a third-party error of :data:`TRANSLATED` (always 422)."""
    if isinstance(exc, DataError):
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        return Invalid(f"a value does not fit what the service stores: {safe_text(first)}")
    if isinstance(exc, OverflowError):
        return Invalid(f"a number or a time is out of range: {safe_text(str(exc))}")
    if isinstance(exc, RecursionError):
        return Invalid("the request is nested too deeply")
    if isinstance(exc, UnicodeEncodeError):
        return Invalid("the request holds text that is not valid Unicode (a lone surrogate)")
    return Invalid(safe_text(str(exc)))


def safe_text(value: str, limit: int = 500) -> str:
    """``value`` fit for a JSON answer: lone surrogates escaped, at most ``limit`` characters."""
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= limit else value[:limit] + "…"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """An echo of what a client sent, fit for a JSON answer: shallow, short, Unicode, finite."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**100 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value, 200)
    if isinstance(value, dict | list | tuple) and depth >= 3:
        return "…"
    if isinstance(value, dict):
        return {safe_text(str(k), 100): _json_safe(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in list(value)[:20]]
    return safe_text(str(value), 200)


def request_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """The ``detail`` of a 422 for a request that does not fit its types: one item per problem,
    ``{"type", "loc", "msg", "input"}`` as FastAPI writes them, with the echoed input made safe
    to send back (a deep, huge, non-finite or non-Unicode input could not be written as JSON)."""
    out: list[dict[str, Any]] = []
    for error in errors:
        item: dict[str, Any] = {}
        for key, value in dict(error).items():
            if key == "loc":
                item["loc"] = [p if isinstance(p, int) else safe_text(str(p), 100) for p in value]
            elif key == "ctx":  # the bound that was broken; an exception there is already in msg
                ctx = {
                    str(k): _json_safe(v) for k, v in dict(value).items() if isinstance(v, int | float | str)
                }
                if ctx:
                    item["ctx"] = ctx
            elif key != "url":
                item[str(key)] = _json_safe(value)
        out.append(item)
    return out
