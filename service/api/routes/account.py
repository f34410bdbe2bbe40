"""A signed-in person's own account: ``POST /api/v1/auth/password``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service import accounts
from service.api.deps import CurrentPrincipal, SessionDep
from service.schemas.account import PasswordChangeIn

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/password",
    status_code=204,
    response_class=Response,
    responses={
        403: {"description": "the current password is wrong, or the caller is not a person"},
        422: {"description": "the new password does not meet the policy"},
    },
    summary="Change one's own password",
)
def change_password(data: PasswordChangeIn, principal: CurrentPrincipal, session: SessionDep) -> Response:
    """The current password, then the new one (at least 12 characters, not the user name, not the
    current one). The person's other sessions end; this one stays. Allowed (and required) after an
    admin's reset. A ledger entry (``password_changed``) records it."""
    accounts.change_password(
        session, principal=principal, current=data.current_password, new=data.new_password
    )
    return Response(status_code=204)
