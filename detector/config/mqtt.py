"""Live alerts over MQTT for wall displays."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from detector.config.base import ConfigModel


class Mqtt(ConfigModel):
    """Live alerts for wall displays (docs/delivery.md): one JSON message per confirmed hit."""

    host: str = Field(
        title="Broker host", description="the MQTT broker's host name or address", examples=["127.0.0.1"]
    )
    port: int = Field(1883, ge=1, le=65535, title="Broker port", description="the broker's TCP port")
    topic_prefix: str = Field(
        "nce",
        pattern=r"^[^#+]+$",
        title="Topic prefix",
        description="topic: <prefix>/<site>/<camera>/hits",
    )
    qos: Literal[0, 1, 2] = Field(1, title="QoS", description="MQTT quality of service of the alerts")
    client_id: str | None = Field(None, title="Client id", description="null: nce-edge-<device or site id>")
    tls: bool = Field(False, title="TLS", description="connect with TLS (the system's CA certificates)")
    username: str | None = Field(None, title="User name", description="null: connect without a login")
    password_file: Path | None = Field(
        None, title="Password file", description="a file holding the password of username"
    )
    queue_size: int = Field(
        1000, ge=1, title="Queue size", description="alerts held while the broker is away; more are dropped"
    )
