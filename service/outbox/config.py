"""``configs/integrations.yaml`` (``NCE_INTEGRATIONS_FILE``): the SMS gateway, the case system's
webhook targets and the shop page's base URL, validated when the service starts.

Secrets are named by environment variable (``secret_env``, ``auth_env``, ``receipt_secret_env``); a
literal secret in the file (``secret``, ``auth``, ``receipt_secret``) is refused outside demo mode,
and so is a plain ``http://`` URL to anything but loopback. Without a file the notifier is the
log-only one and no webhook is sent (:func:`default_integrations`). The notice's words are
``configs/notice_sms.yaml`` and the GB/T 30428 event codes ``configs/gbt30428_codes.yaml``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.settings import SettingsError

CaseEvent = Literal[
    "confirmed", "notice_issued", "notice_delivered", "shop_responded", "corrected", "escalated", "exported"
]
CASE_EVENTS: Final[tuple[CaseEvent, ...]] = get_args(CaseEvent)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMS_TEMPLATE_FILE = CONFIGS / "notice_sms.yaml"
CODES_FILE = CONFIGS / "gbt30428_codes.yaml"
BODY_FIELDS: Final[frozenset[str]] = frozenset({"phone", "text", "message_id"})
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ENV = r"^[A-Z_][A-Z0-9_]{0,127}$"
SECRET_MIN = 16
M = TypeVar("M", bound=BaseModel)


class IntegrationsError(SettingsError):
    """An integrations file (or the notice template, or the code table) the service refuses."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotifierFile(_Strict):
    kind: Literal["log", "http"] = "log"
    name: str = Field(default="sms", pattern=_NAME, description="the outbox's target name")
    url: str | None = None
    auth_header: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]{1,64}$")
    auth_env: str | None = Field(default=None, pattern=_ENV, description="the header's value")
    auth: str | None = Field(default=None, description="literal header value: demo only")
    receipt_secret_env: str | None = Field(default=None, pattern=_ENV)
    receipt_secret: str | None = Field(default=None, description="literal: demo only")
    body: dict[str, Any] = Field(
        default_factory=lambda: {"to": "{phone}", "text": "{text}", "id": "{message_id}"},
        description="the JSON body; {phone}, {text} and {message_id} are filled in string values",
    )

    @model_validator(mode="after")
    def _check(self) -> NotifierFile:
        if self.kind == "http" and not self.url:
            raise ValueError("kind http needs a url")
        for name in _placeholders(self.body):
            if name not in BODY_FIELDS:
                raise ValueError(f"body: unknown placeholder {{{name}}} (known: phone, text, message_id)")
        return self


class WebhookFile(_Strict):
    name: str = Field(pattern=_NAME)
    url: str
    secret_env: str | None = Field(default=None, pattern=_ENV)
    secret: str | None = Field(default=None, description="literal: demo only")
    events: list[CaseEvent] = Field(default_factory=lambda: list(CASE_EVENTS), min_length=1)


class IntegrationsFile(_Strict):
    shop_page_base_url: str | None = Field(default=None, description="the shop link is {base}/s/{token}")
    notifier: NotifierFile = Field(default_factory=NotifierFile)
    webhooks: list[WebhookFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> IntegrationsFile:
        names = [w.name for w in self.webhooks] + [self.notifier.name]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names must be unique: {', '.join(dup)} more than once")
        return self


class SmsTemplate(_Strict):
    text: str = Field(min_length=1, max_length=500)
    link: str = Field(min_length=1, max_length=200)
    in_person: str = Field(min_length=1, max_length=100)


class EventCode(_Strict):
    code: str = Field(pattern=r"^[0-9]{2,8}$")
    category: str
    name: str
    verified: bool
    note: str | None = None


class CodeTable(_Strict):
    standard: str
    sources: list[str] = Field(min_length=1)
    codes: dict[str, EventCode]


@dataclass(frozen=True)
class Notifier:
    kind: Literal["log", "http"]
    name: str
    url: str | None
    headers: Mapping[str, str] = field(repr=False)
    body: dict[str, Any]
    receipt_secret: bytes | None = field(repr=False)


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    secret: bytes = field(repr=False)
    events: frozenset[str]


@dataclass(frozen=True)
class Integrations:
    notifier: Notifier
    webhooks: tuple[Target, ...]
    shop_page_base_url: str | None
    sms: SmsTemplate
    codes: CodeTable

    def target(self, name: str) -> Target | None:
        return next((t for t in self.webhooks if t.name == name), None)


def _placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(_placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_placeholders(v) for v in value)) if value else set()
    return set()


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """The JSON template with ``{name}`` replaced in every string (values are never re-read as templates)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IntegrationsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise IntegrationsError(f"{path}: not YAML: {' '.join(str(exc).split())}") from exc


def _validated(kind: type[M], path: Path, raw: Any) -> M:
    try:
        return kind.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise IntegrationsError(f"{path}: {problems}") from exc


def _secret(
    where: str, *, env_name: str | None, literal: str | None, demo: bool, env: Mapping[str, str]
) -> str | None:
    if literal is not None and not demo:
        raise ValueError(f"{where}: a secret written in the file is for the demo only; name an env variable")
    value = env.get(env_name) if env_name else literal
    if env_name and value is None:
        raise ValueError(f"{where}: environment variable {env_name} is not set")
    if value is not None and len(value) < SECRET_MIN:
        raise ValueError(f"{where}: the secret must be at least {SECRET_MIN} characters")
    return value


def _check_url(where: str, url: str, demo: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: expected an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not demo and not _loopback(parts.hostname):
        raise ValueError(f"{where}: plain http is allowed to loopback only outside the demo, got {url!r}")
    return url


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@cache
def sms_template(path: Path = SMS_TEMPLATE_FILE) -> SmsTemplate:
    return _validated(SmsTemplate, path, _yaml(path))


@cache
def code_table(path: Path = CODES_FILE) -> CodeTable:
    return _validated(CodeTable, path, _yaml(path))


def default_integrations() -> Integrations:
    """No file: the log-only notifier and no webhooks."""
    n = NotifierFile()
    return Integrations(
        notifier=Notifier("log", n.name, None, {}, n.body, None),
        webhooks=(),
        shop_page_base_url=None,
        sms=sms_template(),
        codes=code_table(),
    )


def load_integrations(path: Path | None, *, demo: bool, env: Mapping[str, str] | None = None) -> Integrations:
    """The integrations of ``path`` (None: :func:`default_integrations`); raises
    :class:`IntegrationsError` with one line naming the file and each problem."""
    if path is None:
        return default_integrations()
    env = os.environ if env is None else env
    f = _validated(IntegrationsFile, path, _yaml(path))
    try:
        n = f.notifier
        auth = _secret("notifier.auth", env_name=n.auth_env, literal=n.auth, demo=demo, env=env)
        receipt = _secret(
            "notifier.receipt_secret", env_name=n.receipt_secret_env, literal=n.receipt_secret,
            demo=demo, env=env,
        )  # fmt: skip
        url = _check_url("notifier.url", n.url, demo) if n.url else None
        notifier = Notifier(
            n.kind, n.name, url, {n.auth_header: auth} if auth else {}, n.body,
            receipt.encode() if receipt else None,
        )  # fmt: skip
        targets = []
        for i, w in enumerate(f.webhooks):
            where = f"webhooks.{i}"
            secret = _secret(f"{where}.secret", env_name=w.secret_env, literal=w.secret, demo=demo, env=env)
            if secret is None:
                raise ValueError(f"{where}.secret: a webhook target needs a secret_env (HMAC key)")
            targets.append(
                Target(w.name, _check_url(f"{where}.url", w.url, demo), secret.encode(), frozenset(w.events))
            )
        base = f.shop_page_base_url
        if base is not None:
            base = _check_url("shop_page_base_url", base, demo).rstrip("/")
    except ValueError as exc:
        raise IntegrationsError(f"{path}: {exc}") from exc
    return Integrations(notifier, tuple(targets), base, sms_template(), code_table())
