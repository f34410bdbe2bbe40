"""The answer to a request FastAPI could not validate: 422 with field locations and messages only.

FastAPI's default answer echoes the input (``input``, and ``ctx`` values made from it): a 400 MB
body came back whole. Here each error keeps ``loc``, ``msg`` and ``type`` (the shape FastAPI
documents in the OpenAPI schema), each cut to a bounded length, and at most :data:`MAX_ERRORS` errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.errors import safe_text

MAX_ERRORS = 20
MAX_LOC = 8  # path elements of one location
MAX_NAME = 64  # characters of one location element (a field name can be the client's)
MAX_MSG = 200


def public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for error in list(errors)[:MAX_ERRORS]:
        loc = [x if isinstance(x, int) else safe_text(str(x), MAX_NAME) for x in error.get("loc", ())]
        out.append(
            {
                "loc": loc[:MAX_LOC],
                "msg": safe_text(str(error.get("msg", "")), MAX_MSG),
                "type": safe_text(str(error.get("type", "")), MAX_NAME),
            }
        )
    return out


async def on_invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": public_errors(errors)}, status_code=422)
