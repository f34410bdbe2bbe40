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
    ├── TooManyRequests  429: sign-in locked after too many wrong passwords (``Retry-After``)
    └── Unavailable      503: the database or the evidence store cannot be used now (retry)
        └── Busy         503: too many sign-ins waiting for a password check (``Retry-After``)

Routes raise these; one exception handler maps them to HTTP responses ``{"detail": "…"}``, with a
``Retry-After`` header of ``retry_after`` seconds where the error has one.

Bad input that still gets past the request types as a third-party error (a value the database
refuses, an overflow, a recursion, text that is not Unicode) is translated here, by
:func:`translate`, and nowhere else: such a request is answered 422, never 500, so that an edge box
drops it instead of retrying it for ever.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError

from nce.errors import NceError


class ServiceError(NceError):
    status_code: int = 400
    retry_after: int | None = None  # seconds; sent as Retry-After


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


class TooManyRequests(ServiceError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(Unavailable):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    return value if len(value) <= limit else value[: limit - 1] + "…"
