"""The password policy, checked in this one place for every password a person sets: a new user
(``nce admin add-user``), an admin's reset (``nce admin reset-password``) and a person's own change
(``POST /api/v1/auth/password``, the console's form).

Length is what makes a password strong (NIST SP 800-63B): at least 12 characters, any characters
(a passphrase with spaces is welcome), at most 1024 (the sign-in form's limit); not the user name and,
on a change, not the current password. Passwords are stored as Argon2id hashes
(:mod:`service.security`).
"""

from __future__ import annotations

import secrets

from service.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 1024


def check_new_password(password: str, *, username: str, current: str | None = None) -> str:
    """``password`` when the policy allows it, else :class:`Invalid` with one line saying why."""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"the password must have at least {MIN_LENGTH} characters (it has {len(password)})")
    if len(password) > MAX_LENGTH:
        raise Invalid(f"the password must have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise Invalid("the password must not be only spaces")
    if password.strip().casefold() == username.casefold():
        raise Invalid("the password must not be the user name")
    if current is not None and password == current:
        raise Invalid("the new password must differ from the current one")
    return password


def temporary_password() -> str:
    """A one-time password for a reset: 20 random URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)
