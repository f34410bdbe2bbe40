"""The service's refusals (:mod:`service.errors`) as one line in the page's language.

The service words its errors for API clients, in English (``"violation: may only be corrected when
confirming"``). An operator gets a catalogue message chosen by the error's HTTP status and, for a 422,
by the field the message names; the service's own words stay in a collapsed "technical detail" on the
page and in the log, never as the message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from service.console.messages import Lang, translate, translate_or
from service.errors import ServiceError

log = logging.getLogger(__name__)

# a 422's message starts with the field it is about ("deadline: must be in the future …")
INVALID_FIELDS: Final[dict[str, str]] = {
    "violation": "err.violation_on_dismiss",
    "deadline": "err.deadline_past",
    "cursor": "err.bad_cursor",
}


@dataclass(frozen=True)
class Refusal:
    message: str  # one line, in the page's language
    status_code: int
    detail: str  # the service's own words, for the collapsed detail and the log


def explain(
    exc: ServiceError, lang: Lang, *, case_id: int | None = None, case_status: str | None = None
) -> Refusal:
    """The operator's message for ``exc``; ``case_status`` (the case as it is now) words a conflict."""
    status = exc.status_code
    detail = f"HTTP {status} {type(exc).__name__}: {exc}"
    field = str(exc).partition(":")[0].strip()
    if status == 404 and case_id is not None:
        message = translate(lang, "err.not_found", id=case_id)
    elif status == 409 and case_status is not None:
        named = translate_or(lang, f"status.{case_status}", case_status)
        message = translate(lang, "err.state", status=named)
    elif status == 422 and field in INVALID_FIELDS:
        message = translate(lang, INVALID_FIELDS[field])
    else:  # the catalogue has err.service.<status> for the statuses the service answers with
        message = translate_or(
            lang, f"err.service.{status}", translate(lang, "err.service.other", status=status)
        )
    log.log(logging.WARNING if status >= 500 else logging.INFO, "console: refused: %s", detail)
    return Refusal(message, status, detail)
