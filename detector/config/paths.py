"""Paths in a site config, resolved once, when the config is loaded.

Every file or folder a site config names — ``model.path`` (and ``model.release_pubkey``, a TensorRT provider's ``engine_cache``), a camera ``source`` that is a file,
``device.key_file``, ``uplink.token_file`` / ``outbox_file`` / ``data_dir``, ``mqtt.password_file``,
``evidence.font_file`` — may be relative: relative to the **config file's folder** (for a config
that came from no file, the working directory). :func:`resolve_paths` makes them absolute when the
config is loaded (:func:`detector.config.load_site_config`), so every stage sees absolute paths and
a box reads the same files whatever its working directory. The defaults that are paths
(``var/outbox/<device id>.sqlite``, ``var/edge/<device id>``) are relative to the same folder
(:meth:`SiteConfig.resolve <detector.config.SiteConfig.resolve>`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from detector.config.providers import resolve_provider_paths

if TYPE_CHECKING:
    from detector.config import SiteConfig

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://")


def is_stream(source: str) -> bool:
    """Whether a camera ``source`` is a network stream (rather than a file path)."""
    return source.lower().startswith(STREAM_SCHEMES)


def _absolute(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def resolve_paths(config: SiteConfig, base_dir: Path) -> SiteConfig:
    """``config`` with every relative path made absolute against ``base_dir`` (itself made
    absolute), which is also kept for the path defaults."""
    base = base_dir.absolute()

    def at(path: Path) -> Path:
        return _absolute(path, base)

    update: dict[str, object] = {
        "model": config.model.model_copy(
            update={
                "path": at(config.model.path),
                "release_pubkey": at(pub) if (pub := config.model.release_pubkey) is not None else None,
                "providers": resolve_provider_paths(config.model.providers, at),
            }
        ),
        "cameras": [
            c if is_stream(c.source) else c.model_copy(update={"source": str(at(Path(c.source)))})
            for c in config.cameras
        ],
    }
    if config.device is not None:
        update["device"] = config.device.model_copy(update={"key_file": at(config.device.key_file)})
    if (u := config.uplink) is not None:
        update["uplink"] = u.model_copy(
            update={
                "token_file": at(u.token_file),
                "outbox_file": at(u.outbox_file) if u.outbox_file is not None else None,
                "data_dir": at(u.data_dir) if u.data_dir is not None else None,
            }
        )
    if (m := config.mqtt) is not None and m.password_file is not None:
        update["mqtt"] = m.model_copy(update={"password_file": at(m.password_file)})
    if (key := config.rollout.release_pubkey) is not None:
        update["rollout"] = config.rollout.model_copy(update={"release_pubkey": at(key)})
    if (font := config.evidence.font_file) is not None:
        update["evidence"] = config.evidence.model_copy(update={"font_file": at(font)})
    resolved = config.model_copy(update=update)
    resolved._base_dir = base
    return resolved
