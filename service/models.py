"""The stored rows (SQLAlchemy 2). Alembic migrations in ``service/migrations`` are made from these.

Column sizes come from :mod:`nce.bounds`, the bounds of the contracts whose fields they store
(tests/security/test_bounds.py proves that every bounded field fits its column).

Times are stored as UTC and always come back timezone-aware (:class:`UTCDateTime`), on SQLite too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nce.bounds import (
    ADDRESS_MAX,
    CODE_MAX,
    CONTACT_MAX,
    HIT_ID_MAX,
    ID_MAX,
    IDEMPOTENCY_KEY_MAX,
    MIME_MAX,
    NAME_MAX,
    PACKAGE_ID_MAX,
)


def utcnow() -> dt.datetime:
    """Now, UTC, truncated to milliseconds (what the ledger hashes)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored as naive UTC and read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Device(Base):
    """An enrolled edge box: its Ed25519 public key, its API token (hashed) and its hash chain head."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(ID_MAX), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(128), doc="raw Ed25519 public key, base64")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    last_manifest_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person: operator, supervisor or admin. Password hashed with Argon2id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_MAX), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), doc="set by an admin's reset; cleared by a change"
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Client(Base):
    """Another system (the case system, 网上办案系统) with a bearer token (hashed)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ID_MAX), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="case_system")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    """A signed-in user's session (cookie) or API token (bearer); only the token's hash is kept."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class LoginThrottle(Base):
    """Failed sign-ins of one username (``account:<name>``) or client address (``address:<ip>``).

    In the database, not in the process, so that every service replica on one PostgreSQL sees the
    same counts and lockouts (:mod:`service.crud.throttle`).
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, doc="wrong passwords in this window")
    window_start: Mapped[dt.datetime] = mapped_column()
    lockouts: Mapped[int] = mapped_column(Integer, default=0, doc="lockouts so far (each one longer)")
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True, doc="the row is forgotten after this")


class Shop(Base):
    """The shop registry (一店一码): the party of a case."""

    __tablename__ = "shops"

    shop_id: Mapped[str] = mapped_column(String(ID_MAX), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    code: Mapped[str | None] = mapped_column(String(CODE_MAX), default=None, doc="一店一码")
    license_no: Mapped[str | None] = mapped_column(String(CODE_MAX), default=None)
    address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX), default=None)
    contact: Mapped[str | None] = mapped_column(String(CONTACT_MAX), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Case(Base):
    """One case: a violation at one shop (or one camera zone), with one or more sightings."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_shop_open", "shop_id", "violation", "status"),
        Index("ix_cases_zone_open", "camera_id", "zone_id", "violation", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    violation: Mapped[str] = mapped_column(String(32), index=True)
    original_violation: Mapped[str | None] = mapped_column(String(32), default=None)
    site_id: Mapped[str] = mapped_column(String(ID_MAX))
    camera_id: Mapped[str] = mapped_column(String(ID_MAX), index=True)
    zone_id: Mapped[str] = mapped_column(String(ID_MAX))
    shop_id: Mapped[str | None] = mapped_column(String(ID_MAX), default=None)
    first_seen: Mapped[dt.datetime] = mapped_column(index=True)
    last_seen: Mapped[dt.datetime] = mapped_column()
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[list[str]] = mapped_column(default=list)
    reviewed_by: Mapped[str | None] = mapped_column(String(ID_MAX), default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    review_reason: Mapped[str | None] = mapped_column(Text, default=None)
    notice_issued_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    notice_deadline: Mapped[dt.datetime | None] = mapped_column(default=None)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_seen_after_deadline: Mapped[dt.datetime | None] = mapped_column(default=None)
    exported_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HitEventRow(Base):
    """One accepted submission from a device: a signed package (``seq`` set; a public copy has
    ``package_id`` but no ``seq``) or a plain event. A device's package ids are unique."""

    __tablename__ = "hit_events"
    __table_args__ = (
        UniqueConstraint("device_id", "seq", name="uq_hit_events_device_seq"),
        Index("uq_hit_events_device_package", "device_id", "package_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    hit_id: Mapped[str] = mapped_column(String(HIT_ID_MAX), index=True)
    event: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int | None] = mapped_column(Integer, default=None)
    package_id: Mapped[str | None] = mapped_column(String(PACKAGE_ID_MAX), default=None)
    manifest_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    violation: Mapped[str] = mapped_column(String(32))
    camera_id: Mapped[str] = mapped_column(String(ID_MAX))
    zone_id: Mapped[str] = mapped_column(String(ID_MAX))
    shop_id: Mapped[str | None] = mapped_column(String(ID_MAX), default=None)
    ts: Mapped[dt.datetime] = mapped_column()
    chain_gap: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, doc="the server's time of arrival")
    clock_offset_ms: Mapped[int | None] = mapped_column(
        Integer, default=None, doc="the device's clock offset when it was off (> 1 s) at arrival"
    )


class EvidenceFile(Base):
    """A file of a package: its name in the package and its content address."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("event_id", "name", name="uq_evidence_files_event_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("hit_events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(MIME_MAX))


class IdempotencyKey(Base):
    """The stored answer to a request made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idempotency_principal_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One entry of the hash-chained ledger (全过程记录)."""

    __tablename__ = "ledger"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column()
    payload_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """One row: the ledger's last seq and hash; locked by every append (serialises the chain)."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class LogLeafRow(Base):
    """One leaf of the transparency log (:mod:`nce.transparency`): an accepted package, in order.

    Appended in the ingest's transaction under the ledger lock, so leaf indexes are gap-free and an
    aborted ingest leaves no leaf. ``received_at`` is kept as the exact text hashed in the leaf."""

    __tablename__ = "transparency_leaves"

    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    manifest_hash: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[str] = mapped_column(String(24))


class CheckpointRow(Base):
    """A signed checkpoint of the log and the ledger (:class:`nce.transparency.SignedCheckpoint`)."""

    __tablename__ = "transparency_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[str] = mapped_column(String(64))
    ledger_seq: Mapped[int] = mapped_column(Integer)
    ledger_head_hash: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    signed: Mapped[dict[str, Any]] = mapped_column(doc="the SignedCheckpoint as JSON")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Frame(Base):
    """A frame in the pool the detector learns from (:mod:`service.crud.frames`): an image in the
    evidence store (by SHA-256, one frame per image), where it came from, and the state of its labels.

    ``status`` is the state of the frame's latest label (``frame_labels``, the last one counts):
    ``unlabelled`` (none yet), ``partial`` (not every object verified) or ``labelled`` (complete)."""

    __tablename__ = "frames"
    __table_args__ = (
        Index("ix_frames_status", "status", "id"),
        Index("ix_frames_camera", "camera_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, doc="the image in the evidence store")
    mime: Mapped[str] = mapped_column(String(32), doc="image/jpeg or image/png")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    camera_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), doc="sample | import | case")
    reason: Mapped[str | None] = mapped_column(String(64), default=None, doc="why it was picked")
    origin: Mapped[str | None] = mapped_column(String(255), default=None, doc="e.g. the imported file")
    detections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, doc="the model's, if any")
    taken_at: Mapped[dt.datetime] = mapped_column(index=True, doc="when the camera took it (or was added)")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("hit_events.id"), default=None)
    package_id: Mapped[str | None] = mapped_column(String(128), default=None)
    added_by: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="unlabelled")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FrameLabel(Base):
    """One labelling of a frame, append-only: its boxes (``[{"label", "box", "negative"}]`` in the
    frame's pixels), whether every object is boxed, how (``label``, ``review_confirm``,
    ``review_dismiss``), by whom and when. The frame's latest row counts."""

    __tablename__ = "frame_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"), index=True)
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    complete: Mapped[bool] = mapped_column(Boolean)
    how: Mapped[str] = mapped_column(String(16))
    labelled_by: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[int | None] = mapped_column(Integer, default=None, doc="the reviewed case, if any")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MaskProposal(Base):
    """A learned mask proposed from repeated false-detection dismissals at one place of one camera
    (:mod:`service.crud.masks`): its class, its polygon (fractions of the frame), the dismissals it
    rests on, and a supervisor's decision (``proposed`` → ``accepted`` | ``rejected``; a ledger
    entry ``mask_accepted`` / ``mask_rejected``, whose seq is ``decision_seq``)."""

    __tablename__ = "mask_proposals"
    __table_args__ = (Index("ix_mask_proposals_camera", "camera_id", "label", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(ID_MAX))
    label: Mapped[str] = mapped_column(String(32), doc="the detector class masked")
    status: Mapped[str] = mapped_column(String(16), index=True)
    polygon: Mapped[list[Any]] = mapped_column(JSON, doc="[[x, y], …] fractions 0..1")
    evidence: Mapped[list[Any]] = mapped_column(
        JSON, doc="[{case_id, frame_id, box: [x1, y1, x2, y2] fractions, at: UTC ms}] the dismissed boxes"
    )
    cases: Mapped[int] = mapped_column(Integer, doc="distinct cases among the evidence")
    first_at: Mapped[dt.datetime] = mapped_column()
    last_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    decision_seq: Mapped[int | None] = mapped_column(Integer, default=None, doc="the ledger entry")


# the fleet's tables (model releases, device health, rollouts) live in service/models_fleet.py; imported
# here so that they are on Base.metadata wherever the models are
from service import models_fleet as models_fleet  # noqa: E402
from service import models_outbox as models_outbox  # noqa: E402
from service import models_replicas as models_replicas  # noqa: E402  (settings replicas agree on)

# the shop page's tables (links, shops' statements and photos, public stills): service/models_shop_page.py
from service import models_shop_page as models_shop_page  # noqa: E402
