"""A person's own account: the password change."""

from __future__ import annotations

from pydantic import Field

from service.passwords import MAX_LENGTH
from service.schemas.common import Input


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Field(
        min_length=1, max_length=MAX_LENGTH, description="at least 12 characters (service/passwords.py)"
    )
