"""The uplink: where hits and evidence go, and how the outbox delivers them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from detector.config.base import ConfigModel


class Uplink(ConfigModel):
    """Delivery to the case service; without it, ``nce run --out`` only writes files."""

    service_url: str = Field(
        title="Service URL",
        description="base URL of the case service (http:// or https://)",
        examples=["http://127.0.0.1:8000"],
    )
    token_file: Path = Field(
        title="Token file",
        description="the device API token the service issued",
        examples=["var/keys/edge-baoshan-01.token"],
    )
    timeout_s: float = Field(30.0, gt=0.0, title="Timeout", description="seconds one HTTP request may take")
    outbox_file: Path | None = Field(
        None,
        title="Outbox file",
        description="the edge outbox (SQLite); null: var/outbox/<device id>.sqlite",
    )
    data_dir: Path | None = Field(
        None,
        title="Data folder",
        description="without --out: hits.jsonl and evidence/ of delivered runs; null: var/edge/<device id>",
    )
    drain_s: float = Field(
        10.0, ge=0.0, title="Drain time", description="at shutdown, seconds the relay may still deliver"
    )
    retry_base_s: float = Field(
        1.0, gt=0.0, title="First retry", description="first retry delay (doubles, with jitter)"
    )
    retry_max_s: float = Field(60.0, gt=0.0, title="Longest retry", description="longest retry delay")
    poison_after_5xx: int = Field(
        8,
        ge=1,
        title="Poison after identical 5xx",
        description=(
            "set an item aside (poisoned) after the service answered it with the same 5xx this many "
            "times in a row (502/503/504 and network errors never count), so the rest of the queue moves"
        ),
    )
    heartbeat_s: float = Field(
        30.0,
        ge=0.0,
        le=3600.0,
        title="Heartbeat",
        description=(
            "seconds between heartbeats to the service (state of the box and its cameras, its clock; "
            "sent directly, never queued); 0: none"
        ),
    )

    @field_validator("heartbeat_s")
    @classmethod
    def _heartbeat(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError(f"expected 0 (no heartbeats) or at least 1 second, got {value:g}")
        return value

    @field_validator("service_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")
