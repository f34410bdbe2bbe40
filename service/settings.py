"""The service's settings: one value, validated when the app is built.

Read from keyword arguments (the CLI) and ``NCE_*`` environment variables. Outside demo mode the
default secret is refused, so a forgotten ``NCE_SECRET_KEY`` never reaches production, and so is a
missing ``NCE_SERVICE_KEY_FILE`` (the Ed25519 key that signs the transparency log's checkpoints; it
lives outside the database so that whoever can write the database cannot sign).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.errors import ServiceError

DEFAULT_SECRET = "change-me-demo-only"
DEFAULT_DB_PATH = Path("var") / "nce.sqlite3"
DEFAULT_EVIDENCE_DIR = Path("var") / "evidence"
DEFAULT_DEMO_SERVICE_KEY = Path("var") / "demo" / "service.key"


def default_db_url() -> str:
    return f"sqlite:///{DEFAULT_DB_PATH}"


class SettingsError(ServiceError):
    """Settings that the service refuses to start with."""


class Settings(BaseModel):
    """Everything the service needs to start. Immutable; compare and print freely (no secret shown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field(
        default_factory=default_db_url, description="SQLAlchemy URL (sqlite or postgresql+psycopg)"
    )
    evidence_dir: Path = Field(default=DEFAULT_EVIDENCE_DIR, description="content-addressed evidence store")
    evidence_url: str | None = Field(
        default=None,
        description="evidence in an S3-compatible object store instead (s3://bucket/prefix; evidence_dir "
        "is then unused); endpoint and credentials: NCE_S3_ENDPOINT / AWS_ENDPOINT_URL, AWS_* variables",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="the S3 endpoint (https://host:port) of evidence_url; default: AWS_ENDPOINT_URL, else AWS",
        pattern=r"^https?://[^\s/]+/?$",
    )
    legal_basis_file: Path | None = Field(
        default=None, description="legal-basis table (YAML); default: configs/legal_basis.yaml"
    )
    secret_key: str = Field(default=DEFAULT_SECRET, repr=False, description="signs session cookies")
    demo: bool = Field(default=False, description="demo mode: allows the default secret")
    migrate_on_start: bool = True
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="largest package upload (POST /api/v1/hits)"
    )
    max_body_bytes: int = Field(
        default=32 * 1024, gt=0, description="largest body of every other request (JSON, console forms)"
    )
    max_login_bytes: int = Field(
        default=8 * 1024, gt=0, description="largest sign-in body (POST /api/v1/auth/login, POST /login)"
    )
    max_files: int = Field(default=64, gt=0, description="most files in one package")
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="the service's address as shops reach it (https://host[/prefix]): the shop pages' "
        "links and QR codes (/s/<token>); none: the address the console was opened at",
    )
    shop_photo_max_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        le=64 * 1024 * 1024,
        description="largest correction photo a shop uploads",
    )
    session_ttl_s: int = Field(default=12 * 3600, gt=0)
    cookie_secure: bool | None = Field(
        default=None,
        description="mark the session and CSRF cookies Secure (HTTPS only); default: on outside demo mode",
    )
    sweep_interval_s: float = Field(default=30.0, ge=0, description="notice deadline checks; 0 = off")
    # sign-in: Argon2id takes 64 MiB and a CPU for ~0.1 s per check, so only a few run at once
    login_hash_slots: int = Field(default=2, ge=1, description="password checks running at once")
    # ingest: checking and storing a package is CPU work; more at once than the cores only contend
    ingest_slots: int = Field(
        default=2, ge=1, description="packages checked, stored and committed at once (others wait)"
    )
    login_hash_queue: int = Field(
        default=16, ge=0, description="sign-ins waiting for a password check; more are refused (503)"
    )
    login_hash_wait_s: float = Field(
        default=5.0, gt=0, description="longest wait for a password check before a 503"
    )
    login_account_failures: int = Field(
        default=5, ge=1, description="wrong passwords for one username before it is locked"
    )
    login_address_failures: int = Field(
        default=30, ge=1, description="wrong passwords from one client address before it is locked"
    )
    login_window_s: int = Field(default=900, gt=0, description="failures older than this are forgotten")
    login_lockout_s: int = Field(default=300, gt=0, description="first lockout; each further one doubles")
    login_lockout_max_s: int = Field(default=3600, gt=0, description="longest lockout")
    metrics_token: str | None = Field(
        default=None, repr=False, description="bearer token that may read /metrics from anywhere"
    )
    metrics_from: str = Field(
        default="127.0.0.0/8,::1/128",
        description="client networks (comma-separated) that may read /metrics without the token",
    )
    # the HTTP server (uvicorn, see service.server)
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="a connection must complete a request's headers within this"
    )
    keep_alive_s: int = Field(default=5, ge=1, description="idle keep-alive connections are closed")
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="largest request head")
    limit_concurrency: int = Field(
        default=200, ge=1, description="open connections and requests beyond which new requests get 503"
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated)",
    )
    service_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs log checkpoints; required outside demo "
        "(demo: var/demo/service.key, made if missing)",
    )
    checkpoint_interval_s: float = Field(
        default=3600.0, ge=0, description="a signed checkpoint at most this often when the log grew; 0 = off"
    )
    log_origin: str = Field(
        default="nce-case-service",
        min_length=1,
        max_length=200,
        description="the transparency log's name in its checkpoints",
    )
    # learned masks (service.masks): when false-detection dismissals make a mask proposal
    mask_proposal_min_dismissals: int = Field(
        default=3, ge=2, le=1000, description="distinct cases dismissed as false at one place"
    )
    mask_proposal_days: int = Field(
        default=14, ge=1, le=365, description="only dismissals of the last this many days count"
    )
    mask_proposal_radius: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="one place: the boxes' bottom-centres within this distance (fractions of the frame)",
    )
    mask_proposal_margin: float = Field(
        default=0.02, ge=0.001, le=0.2, description="padding of a proposed polygon (fractions of the frame)"
    )
    review_revert_window_s: int = Field(
        default=900, ge=0, le=7 * 24 * 3600, description="a supervisor may revert a review this long after it"
    )

    # score-threshold proposals (service.thresholds): from confirmed vs false-detection reviews
    threshold_min_reviewed: int = Field(
        default=20, ge=2, le=100_000, description="least reviewed cases of one camera and class"
    )
    threshold_min_removed: float = Field(
        default=0.5, gt=0, le=1, description="share of false detections a proposal must remove"
    )
    threshold_max_lost: float = Field(
        default=0.05, ge=0, lt=1, description="largest share of confirmed cases a proposal may lose"
    )
    threshold_step: float = Field(default=0.05, ge=0.01, le=0.5, description="the thresholds' grid")
    threshold_days: int = Field(default=30, ge=1, le=365, description="only cases of the last this many days")

    release_pubkeys: tuple[Path, ...] = Field(
        default=(),
        description="Ed25519 public keys (files) whose model releases the service accepts "
        "(POST /api/v1/models); env: comma-separated paths; none: every release is refused",
    )

    @field_validator("evidence_url")
    @classmethod
    def _check_evidence_url(cls, value: str | None) -> str | None:
        if value:
            from service.evidence_s3 import parse_url

            parse_url(value)  # ValueError: one line naming the expected form
        return value or None

    @field_validator("release_pubkeys", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(Path(v.strip()) for v in value.split(",") if v.strip())
        return value

    # fleet health (service.fleet): heartbeats, down devices and cameras, alerts
    device_down_after_s: float = Field(
        default=90.0, gt=0, le=86400, description="a device without a heartbeat this long is down"
    )
    camera_down_after_s: float = Field(
        default=60.0, ge=0, le=86400, description="a camera reported not up this long is down"
    )
    fleet_sweep_s: float = Field(default=10.0, ge=0, description="down checks this often; 0 = off")
    mqtt_url: str | None = Field(
        default=None,
        description="publish device/camera alerts to nce/<site>/devices/<device>/status "
        "(mqtt://host:1883); none: console only",
        pattern=r"^mqtt://[A-Za-z0-9.\[\]:-]+/?$",
    )

    # notices and case-system pushes (service.outbox): the outbox worker and where the targets are
    integrations_file: Path | None = Field(
        default=None,
        description="SMS gateway, webhook targets and the shop page's base URL (YAML, see "
        "configs/integrations.example.yaml); none: notices are logged only, no webhooks",
    )
    outbound_interval_s: float = Field(default=2.0, ge=0, description="the outbox worker's poll; 0 = off")
    outbound_max_attempts: int = Field(
        default=20, ge=1, le=1000, description="sends (5xx, timeouts) before a message is poisoned"
    )
    outbound_max_refusals: int = Field(
        default=3, ge=1, le=100, description="refusals (4xx but 408/429) before a message is poisoned"
    )
    outbound_backoff_base_s: float = Field(default=2.0, gt=0, le=3600, description="first retry's wait")
    outbound_backoff_max_s: float = Field(default=900.0, gt=0, le=86400, description="longest retry wait")
    outbound_timeout_s: float = Field(default=10.0, gt=0, le=300, description="one send's time limit")
    outbound_batch: int = Field(default=20, ge=1, le=1000, description="messages one worker pass takes")
    accept_changed_settings: bool = Field(
        default=False,
        description="record this replica's secret key, service key, release keys and log origin as the "
        "ones every replica must use (after a deliberate change; service.replica_settings)",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.demo and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "NCE_SECRET_KEY is the default demo secret: set a real one (make one with: python3 -c "
                "'import secrets; print(secrets.token_urlsafe(32))'), or pass --demo to try the service"
            )
        if not self.demo and self.service_key_file is None:
            raise ValueError(
                "NCE_SERVICE_KEY_FILE is not set: the service signs its log checkpoints with its own "
                "Ed25519 key (make one: nce keys generate --out DIR --device-id service)"
            )
        if len(self.secret_key) < 16:
            raise ValueError("secret_key must be at least 16 characters")
        if not (self.db_url.startswith("sqlite") or self.db_url.startswith("postgresql")):
            raise ValueError(f"db_url must be sqlite:/// or postgresql+psycopg://, got {self.db_url!r}")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ValueError("metrics_token must be at least 16 characters")
        self.metrics_networks()  # raises on a bad network
        if self.outbound_backoff_max_s < self.outbound_backoff_base_s:
            raise ValueError("outbound_backoff_max_s must not be shorter than outbound_backoff_base_s")
        if self.login_lockout_max_s < self.login_lockout_s:
            raise ValueError("login_lockout_max_s must not be shorter than login_lockout_s")
        return self

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure unless demo mode (plain HTTP on loopback) or ``cookie_secure`` says."""
        return self.cookie_secure if self.cookie_secure is not None else not self.demo

    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        try:
            return [ipaddress.ip_network(n.strip()) for n in self.metrics_from.split(",") if n.strip()]
        except ValueError as exc:
            raise ValueError(f"metrics_from: {exc}") from None

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from ``NCE_*`` environment variables, then ``overrides`` (None values ignored)."""
        values: dict[str, Any] = {}
        env = {
            "db_url": "NCE_DB_URL",
            "evidence_dir": "NCE_EVIDENCE_DIR",
            "evidence_url": "NCE_EVIDENCE_URL",
            "s3_endpoint": "NCE_S3_ENDPOINT",
            "legal_basis_file": "NCE_LEGAL_BASIS_FILE",
            "secret_key": "NCE_SECRET_KEY",
            "demo": "NCE_DEMO",
            "max_request_bytes": "NCE_MAX_REQUEST_BYTES",
            "cookie_secure": "NCE_COOKIE_SECURE",
            "max_body_bytes": "NCE_MAX_BODY_BYTES",
            "max_login_bytes": "NCE_MAX_LOGIN_BYTES",
            "public_url": "NCE_PUBLIC_URL",
            "shop_photo_max_bytes": "NCE_SHOP_PHOTO_MAX_BYTES",
            "login_hash_slots": "NCE_LOGIN_HASH_SLOTS",
            "ingest_slots": "NCE_INGEST_SLOTS",
            "login_hash_queue": "NCE_LOGIN_HASH_QUEUE",
            "login_hash_wait_s": "NCE_LOGIN_HASH_WAIT_S",
            "login_account_failures": "NCE_LOGIN_ACCOUNT_FAILURES",
            "login_address_failures": "NCE_LOGIN_ADDRESS_FAILURES",
            "login_window_s": "NCE_LOGIN_WINDOW_S",
            "login_lockout_s": "NCE_LOGIN_LOCKOUT_S",
            "login_lockout_max_s": "NCE_LOGIN_LOCKOUT_MAX_S",
            "metrics_token": "NCE_METRICS_TOKEN",
            "metrics_from": "NCE_METRICS_FROM",
            "header_timeout_s": "NCE_HEADER_TIMEOUT_S",
            "keep_alive_s": "NCE_KEEP_ALIVE_S",
            "max_header_bytes": "NCE_MAX_HEADER_BYTES",
            "limit_concurrency": "NCE_LIMIT_CONCURRENCY",
            "forwarded_allow_ips": "NCE_FORWARDED_ALLOW_IPS",
            "service_key_file": "NCE_SERVICE_KEY_FILE",
            "checkpoint_interval_s": "NCE_CHECKPOINT_INTERVAL_S",
            "log_origin": "NCE_LOG_ORIGIN",
            "mask_proposal_min_dismissals": "NCE_MASK_PROPOSAL_MIN_DISMISSALS",
            "mask_proposal_days": "NCE_MASK_PROPOSAL_DAYS",
            "mask_proposal_radius": "NCE_MASK_PROPOSAL_RADIUS",
            "mask_proposal_margin": "NCE_MASK_PROPOSAL_MARGIN",
            "review_revert_window_s": "NCE_REVIEW_REVERT_WINDOW_S",
            "release_pubkeys": "NCE_RELEASE_PUBKEYS",
            "threshold_min_reviewed": "NCE_THRESHOLD_MIN_REVIEWED",
            "threshold_min_removed": "NCE_THRESHOLD_MIN_REMOVED",
            "threshold_max_lost": "NCE_THRESHOLD_MAX_LOST",
            "threshold_step": "NCE_THRESHOLD_STEP",
            "threshold_days": "NCE_THRESHOLD_DAYS",
            "device_down_after_s": "NCE_DEVICE_DOWN_AFTER_S",
            "camera_down_after_s": "NCE_CAMERA_DOWN_AFTER_S",
            "fleet_sweep_s": "NCE_FLEET_SWEEP_S",
            "sweep_interval_s": "NCE_SWEEP_INTERVAL_S",
            "mqtt_url": "NCE_MQTT_URL",
            "integrations_file": "NCE_INTEGRATIONS_FILE",
            "outbound_interval_s": "NCE_OUTBOUND_INTERVAL_S",
            "outbound_max_attempts": "NCE_OUTBOUND_MAX_ATTEMPTS",
            "outbound_max_refusals": "NCE_OUTBOUND_MAX_REFUSALS",
            "outbound_backoff_base_s": "NCE_OUTBOUND_BACKOFF_BASE_S",
            "outbound_backoff_max_s": "NCE_OUTBOUND_BACKOFF_MAX_S",
            "outbound_timeout_s": "NCE_OUTBOUND_TIMEOUT_S",
            "outbound_batch": "NCE_OUTBOUND_BATCH",
            "accept_changed_settings": "NCE_ACCEPT_CHANGED_SETTINGS",
        }
        for field, var in env.items():
            if var in os.environ:
                values[field] = os.environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise SettingsError(f"settings refused: {problems}") from exc

    def resolved_legal_basis_file(self) -> Path:
        if self.legal_basis_file is not None:
            return self.legal_basis_file
        return Path(__file__).resolve().parent.parent / "configs" / "legal_basis.yaml"

    def resolved_service_key_file(self) -> Path:
        if self.service_key_file is not None:
            return self.service_key_file
        return DEFAULT_DEMO_SERVICE_KEY
