"""The case service as the attack tests see it: over HTTP, with enrolled devices that sign real
packages (tests/service's factories), operators, cases with a notice whose deadline lies a moment
ahead, and the deadline sweeper run on the server's clock. Fixtures: tests/security/conftest.py."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, text

from nce.hits import HitEvent
from nce.manifest import sign_manifest, utc_ms
from service.crud.case_actions import sweep_deadlines
from service.crud.identities import add_device
from service.models import AuthSession, HitEventRow, User
from service.security import new_token, token_hash
from service.state import AppState
from tests.support.devices import DeviceHandle, Package, new_key, pub_b64

SECRET = "security-test-secret-0123456789"
DEADLINE_S = 1.0  # a notice's deadline this far ahead of the server clock: short, but real


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def wait_until(moment: dt.datetime) -> None:
    """Sleep until the (shared) clock is past ``moment``."""
    while now() <= moment:
        time.sleep(max(0.01, (moment - now()).total_seconds() + 0.01))


def package(
    dev: DeviceHandle,
    *,
    times: dict[str, dt.datetime] | None = None,
    created_at: dt.datetime | None = None,
    advance: bool = True,
    **kwargs: Any,
) -> Package:
    """``dev.package(**kwargs)`` with some of the event's ``times`` (``ts``, ``first_seen``,
    ``confirmed_at``, ``last_seen``, ``cleared_at``) or ``created_at`` set, signed by ``dev``."""
    pkg = dev.package(advance=False, **kwargs)
    manifest = pkg.manifest
    updates: dict[str, Any] = {}
    if times:
        updates["event"] = manifest.event.model_copy(update={k: utc_ms(v) for k, v in times.items()})
    if created_at is not None:
        updates["created_at"] = utc_ms(created_at)
    if updates:
        manifest = sign_manifest(manifest.model_copy(update=updates), dev.key)
        pkg = Package(manifest, manifest.to_json_bytes(), pkg.files)
    if advance and manifest.kind != "public_copy":
        dev.seq, dev.prev = manifest.sequence, pkg.hash
    return pkg


@dataclass
class Notice:
    case_id: int
    confirmed: Package  # the package that filed the case
    issued_at: dt.datetime  # before the server's own notice time
    deadline: dt.datetime


@dataclass
class Service:
    """The service over HTTP, and a look at what it stored."""

    http: httpx.Client
    state: AppState

    def device(self, device_id: str | None = None) -> DeviceHandle:
        device_id = device_id or f"edge-{secrets.token_hex(3)}"
        key = new_key()
        with self.state.sessions() as s:
            token = add_device(s, device_id=device_id, public_key=pub_b64(key), actor="test")
        return DeviceHandle(device_id, key, token)

    def operator(self) -> dict[str, str]:
        token = new_token("user")
        with self.state.sessions() as s:
            user = User(username=f"op-{secrets.token_hex(3)}", role="operator", password_hash="-")
            s.add(user)
            s.flush()
            s.add(
                AuthSession(
                    user_id=user.id, token_hash=token_hash(token), expires_at=now() + dt.timedelta(hours=1)
                )
            )
            s.commit()
        return {"Authorization": f"Bearer {token}"}

    def post(self, dev: DeviceHandle, pkg: Package) -> httpx.Response:
        """``POST /api/v1/hits`` with the package, as the edge sends it."""
        idem = f"{dev.device_id}:{pkg.manifest.sequence}:{pkg.manifest.package_id}"
        return self.http.post(
            "/api/v1/hits", files=pkg.multipart(), headers={**dev.headers, "Idempotency-Key": idem}
        )

    def event(self, dev: DeviceHandle, **fields: Any) -> httpx.Response:
        """``POST /api/v1/hits/events`` with a hit event of ``dev`` (``fields`` override the defaults)."""
        ts = fields.pop("ts", now())
        body = HitEvent(
            **{
                "event": "still_present",
                "hit_id": "hit-x",
                "site_id": "sh-bs-01",
                "camera_id": "cam-01",
                "zone_id": "z-front-1",
                "shop_id": "S-0001",
                "violation": "out_of_shop_trading",
                "track_id": 7,
                "label": "stall",
                "score": 0.9,
                "box": (1.0, 2.0, 30.0, 40.0),
                "ts": ts,
                "first_seen": fields.pop("first_seen", ts - dt.timedelta(minutes=5)),
                "last_seen": fields.pop("last_seen", ts),
                "dwell_s": 300.0,
                "sightings": 150,
                **fields,
            }
        ).model_dump(mode="json")
        key = f"{dev.device_id}:ev:{secrets.token_hex(4)}"
        return self.http.post(
            "/api/v1/hits/events", json=body, headers={**dev.headers, "Idempotency-Key": key}
        )

    def case(self, case_id: int) -> dict[str, Any]:
        r = self.http.get(f"/api/v1/cases/{case_id}", headers=self.operator())
        r.raise_for_status()
        return dict(r.json())

    def status(self, case_id: int) -> str:
        return str(self.case(case_id)["case"]["status"])

    def notice(self, dev: DeviceHandle, *, deadline_s: float = DEADLINE_S, **package: Any) -> Notice:
        """A package files a case; an operator confirms it and gives notice with a deadline
        ``deadline_s`` ahead of now."""
        pkg = dev.package(ts=now() - dt.timedelta(minutes=10), **package)
        r = self.post(dev, pkg)
        assert r.status_code == 201, r.text
        case_id = int(r.json()["case_id"])
        op = self.operator()
        self.http.post(
            f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=op
        ).raise_for_status()
        issued_at = now()
        deadline = issued_at + dt.timedelta(seconds=deadline_s)
        r = self.http.post(
            f"/api/v1/cases/{case_id}/notice", json={"deadline": deadline.isoformat()}, headers=op
        )
        assert r.status_code == 200, r.text
        return Notice(case_id, pkg, issued_at, deadline)

    def case_of(self, pkg: Package) -> int:
        """The case the package was filed in (read from the database)."""
        with self.state.sessions() as s:
            case_id = s.execute(
                select(HitEventRow.case_id).where(HitEventRow.manifest_hash == pkg.hash)
            ).scalar_one()
        assert case_id is not None
        return int(case_id)

    def sweep(self) -> list[tuple[int, str]]:
        """The deadline sweeper, once, on the server's clock (as the running service does it)."""
        with self.state.sessions() as s:
            return sweep_deadlines(s)

    def count(self, table: str) -> int:
        with self.state.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

    def stored(self) -> dict[str, int]:
        """What a refused request must leave alone. Its files may have been uploaded (uploads
        precede the transaction): then they are objects no row names, which ``nce admin
        gc-evidence`` sweeps; so what counts here is the stored objects that rows name."""
        from service.evidence_gc import named_digests

        with self.state.sessions() as s:
            named = named_digests(s)
        return {
            **{t: self.count(t) for t in ("hit_events", "evidence_files", "ledger", "cases")},
            "files": sum(1 for o in self.state.store.objects() if o.sha256 in named)
            + self.state.store.staged_count(),
        }
