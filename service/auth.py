"""Who is calling: :class:`Principal` (a user, a device or a client system) and role sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.case_status import REVIEWED_STATUSES

PrincipalKind = Literal["user", "device", "client"]

# who may do what (routes name one of these sets)
READ_CASES = frozenset({"operator", "supervisor", "admin", "case_system"})
REVIEW = frozenset({"operator", "supervisor", "admin"})
NOTICE = frozenset({"operator", "supervisor", "admin"})
REVERT = frozenset({"supervisor", "admin"})  # a review undone, within the service's window
EXPORT = frozenset({"supervisor", "admin", "case_system"})
SHOPS_READ = frozenset({"operator", "supervisor", "admin"})
SHOPS_WRITE = frozenset({"supervisor", "admin"})
LEDGER = frozenset({"supervisor", "admin"})
INGEST = frozenset({"device"})
FRAMES_READ = frozenset({"operator", "supervisor", "admin"})  # the frame pool, and labelling it
FRAMES_LABEL = frozenset({"operator", "supervisor", "admin"})
FRAMES_ADD = frozenset({"supervisor", "admin"})
MASKS_READ = frozenset({"operator", "supervisor", "admin"})  # learned-mask proposals
MASKS_DECIDE = frozenset({"supervisor", "admin"})
THRESHOLDS_READ = frozenset({"supervisor", "admin"})  # score-threshold proposals
MODELS_READ = frozenset({"operator", "supervisor", "admin"})  # model releases: list them
MODELS_ADD = frozenset({"admin"})
MODELS_FETCH = frozenset({"device", "admin"})  # download a release's files (the edge's rollout)
ROLLOUT = frozenset({"supervisor", "admin"})  # assign releases and camera settings to devices


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    name: str
    role: str
    user_id: int | None = None
    session_id: int | None = None
    must_change_password: bool = False  # a user after an admin's reset: only a password change is allowed
    public_key: str | None = None  # a device's enrolled key, read in the same row as its token

    @property
    def actor(self) -> str:
        """How the ledger names this principal: ``user:alice``, ``device:edge-01``, ``client:ecase``."""
        return f"{self.kind}:{self.name}"

    def may_see_status(self, status: str) -> bool:
        """A case system sees reviewed and confirmed cases only, never drafts or dismissed ones."""
        return self.role != "case_system" or status in REVIEWED_STATUSES
