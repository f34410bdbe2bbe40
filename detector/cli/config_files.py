"""``nce config check``'s second half: the files a site config names exist and are what they claim.

The model loads and its metadata reads (classes, input size); with ``model.release_pubkey``, the
release folder verifies against that key first; the device key parses as an Ed25519
private key; the uplink token, the MQTT password and the evidence font are readable; a camera whose
source is a file has that file. Each check gives one line: what it found, or a
:class:`~detector.errors.ConfigProblem` naming the config key and the absolute path it looked at
(relative paths in a site config are relative to its folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detector.config import SiteConfig
from detector.config.paths import is_stream
from detector.errors import ConfigProblem, DetectorError


@dataclass
class FileReport:
    """What the checks found: one line per file that is fine, one problem per file that is not."""

    found: list[str] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)


def _readable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None."""
    if not path.exists():
        return f"no such file: {path}"
    if not path.is_file():
        return f"{path} is not a file"
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None


def check_files(config: SiteConfig, file: str) -> FileReport:
    report = FileReport()

    def problem(key: str, message: str) -> None:
        report.problems.append(ConfigProblem(file, key, message))

    _check_model(config, report, problem)
    if (device := config.device) is not None:
        why = _readable(device.key_file)
        if why is not None:
            problem("device.key_file", device.missing_key_message().split(": ", 1)[1])
        else:
            from nce.manifest import ManifestError, key_fingerprint, load_private_key

            try:
                key = load_private_key(device.key_file)
            except (ManifestError, ValueError) as exc:
                problem("device.key_file", f"not an Ed25519 signing key: {exc}")
            else:
                fp = key_fingerprint(key.public_key())
                report.found.append(f"device.key_file: {device.key_file} (public key fingerprint {fp[:16]}…)")
    if (uplink := config.uplink) is not None:
        why = _readable(uplink.token_file)
        if why is None and not uplink.token_file.read_text(encoding="utf-8", errors="replace").strip():
            why = f"{uplink.token_file} is empty (expected the token `nce admin add-device` printed)"
        if why is not None:
            problem("uplink.token_file", why)
        else:
            report.found.append(f"uplink.token_file: {uplink.token_file}")
    optional = [
        ("mqtt.password_file", config.mqtt.password_file if config.mqtt else None),
        ("evidence.font_file", config.evidence.font_file),
    ]
    optional += [
        (f"cameras[{i}].source", Path(c.source))
        for i, c in enumerate(config.cameras)
        if not is_stream(c.source)
    ]
    for name, path in optional:
        if path is None:
            continue
        why = _readable(path)
        if why is not None:
            problem(name, why)
        else:
            report.found.append(f"{name}: {path}")
    return report


def _check_model(config: SiteConfig, report: FileReport, problem: Callable[[str, str], None]) -> None:
    from detector.providers import check_provider_names

    try:
        check_provider_names(config.model.provider_names())
    except DetectorError as exc:
        problem("model.providers", str(exc))
    path = config.model.path
    if config.model.release_pubkey is not None:
        from nce.release import MODEL_FILE, ReleaseError, load_release_pubkey, verify_release

        try:
            record = verify_release(path, load_release_pubkey(config.model.release_pubkey))
        except ReleaseError as exc:
            problem("model.path", f"refused: {exc}")
            return
        report.found.append(
            f"model.path: release {record.release_id} verified (release key sha256 {record.key_fingerprint[:16]}…)"
        )
        path = path / MODEL_FILE
    why = _readable(path)
    if why is not None:
        problem("model.path", why)
        return
    from detector.yolo import YoloDetector

    try:
        info = YoloDetector(path, providers=("CPUExecutionProvider",)).info
    except DetectorError as exc:
        problem("model.path", f"the model does not load: {exc}")
        return
    h, w = info.imgsz
    report.found.append(
        f"model.path: {path} ({len(info.names)} classes: {', '.join(list(info.names.values())[:6])}"
        f"{'…' if len(info.names) > 6 else ''}; input {w}x{h}; sha256 {info.sha256[:12]}…)"
    )
