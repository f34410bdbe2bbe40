"""The service's settings: one value, validated when the app is built.

Read from keyword arguments (the CLI) and ``NCE_*`` environment variables. Outside demo mode the
default secret is refused, so a forgotten ``NCE_SECRET_KEY`` never reaches production, and so is a
missing ``NCE_SERVICE_KEY_FILE`` (the Ed25519 key that signs the transparency log's checkpoints; it
lives outside the database so that whoever can write the database cannot sign).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    legal_basis_file: Path | None = Field(
        default=None, description="legal-basis table (YAML); default: configs/legal_basis.yaml"
    )
    secret_key: str = Field(default=DEFAULT_SECRET, repr=False, description="signs session cookies")
    demo: bool = Field(default=False, description="demo mode: allows the default secret")
    migrate_on_start: bool = True
    max_request_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="largest upload accepted")
    max_files: int = Field(default=64, gt=0, description="most files in one package")
    session_ttl_s: int = Field(default=12 * 3600, gt=0)
    cookie_secure: bool = Field(default=False, description="mark the session cookie Secure (HTTPS only)")
    sweep_interval_s: float = Field(default=30.0, ge=0, description="notice deadline checks; 0 = off")
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

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.demo and self.secret_key == DEFAULT_SECRET:
            raise ValueError("NCE_SECRET_KEY is the default demo secret; set a real one or use demo mode")
        if not self.demo and self.service_key_file is None:
            raise ValueError(
                "NCE_SERVICE_KEY_FILE is not set: the service signs its log checkpoints with its own "
                "Ed25519 key (make one: nce keys generate --out DIR --device-id service)"
            )
        if len(self.secret_key) < 16:
            raise ValueError("secret_key must be at least 16 characters")
        if not (self.db_url.startswith("sqlite") or self.db_url.startswith("postgresql")):
            raise ValueError(f"db_url must be sqlite:/// or postgresql+psycopg://, got {self.db_url!r}")
        return self

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from ``NCE_*`` environment variables, then ``overrides`` (None values ignored)."""
        values: dict[str, Any] = {}
        env = {
            "db_url": "NCE_DB_URL",
            "evidence_dir": "NCE_EVIDENCE_DIR",
            "legal_basis_file": "NCE_LEGAL_BASIS_FILE",
            "secret_key": "NCE_SECRET_KEY",
            "demo": "NCE_DEMO",
            "max_request_bytes": "NCE_MAX_REQUEST_BYTES",
            "cookie_secure": "NCE_COOKIE_SECURE",
            "service_key_file": "NCE_SERVICE_KEY_FILE",
            "checkpoint_interval_s": "NCE_CHECKPOINT_INTERVAL_S",
            "log_origin": "NCE_LOG_ORIGIN",
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
