"""What every console page takes: the signed-in operator, a case id from the path, form fields.

A page's dependency :data:`Operator` lets in only people who review cases (:mod:`service.console.guard`);
every other caller gets the sign-in page or a 403 page, never JSON. Form fields are plain strings,
every one optional (:data:`FormStr`): a missing one is reported on the page, never as a JSON 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Request
from fastapi.responses import RedirectResponse

from service.api.deps import SessionDep, StateDep
from service.auth import Principal
from service.console.guard import principal_of


def operator(request: Request, state: StateDep, session: SessionDep) -> Principal:
    return principal_of(request, state, session)


Operator = Annotated[Principal, Depends(operator)]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FormStr = Annotated[str, Form()]


def redirect(url: str) -> RedirectResponse:
    """A redirect after a form post (303: the browser follows it with a GET)."""
    return RedirectResponse(url, status_code=303)
