"""The console's world for tests: a service on SQLite (or the real PostgreSQL) seeded through the
real ingest API with signed packages of real evidence (street-like JPEG stills, raw and annotated,
drawn with Pillow; an H.264 MP4 clip encoded by ffmpeg, which Chromium plays), its operator, and
signing in through the login form.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import text

from detector.evidence.render import CLASS_ZH
from nce.manifest import CameraRef, LocationRef, ModelRef, OcrResult, Still, ZoneRef, utc_ms
from service.app import create_app
from service.crud.identities import add_client, add_device
from service.models import Shop
from service.settings import Settings
from service.state import AppState
from tests.support.devices import DeviceHandle, new_key, pub_b64
from tests.support.servers import service_key_file, serving
from tests.support.users import add_user

W, H = 640, 360
ZONE = [(0.05, 0.55), (0.62, 0.55), (0.70, 0.98), (0.02, 0.98)]
FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT_FILE), size)
    except OSError:
        return ImageFont.load_default()


@cache  # deterministic: each picture is drawn and encoded once per run
def street(tag: str, shift: int = 0, *, annotated: bool = False, label: str = "stall") -> bytes:
    """A shop front, a sidewalk and an object in the zone; ``annotated`` draws zone, box and label."""
    img = Image.new("RGB", (W, H), (120, 124, 130))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, W, 190), fill=(186, 170, 150))  # building
    for i, colour in enumerate([(150, 40, 40), (40, 90, 150), (60, 120, 60)]):
        x = 20 + i * 210
        d.rectangle((x, 40, x + 180, 190), fill=(230, 225, 215))
        d.rectangle((x, 40, x + 180, 80), fill=colour)
        d.text((x + 12, 46), ["水果店", "便利店", "五金店"][i], font=_font(22), fill="white")
        d.rectangle((x + 60, 100, x + 120, 190), fill=(70, 60, 50))  # door
    d.rectangle((0, 190, W, 240), fill=(175, 175, 170))  # sidewalk
    box = object_box(tag, shift)
    if label == "garbage":
        for i in range(4):
            d.ellipse(
                (box[0] + i * 40, box[1] + 40 - (i % 2) * 20, box[0] + i * 40 + 70, box[3]), fill=(35, 35, 40)
            )
    elif label == "banner":
        d.rectangle(box, fill=(200, 20, 20))
        d.text((box[0] + 12, box[1] + 30), "开业大酬宾", font=_font(28), fill=(255, 230, 0))
    else:
        d.rectangle(box, fill=(200, 120, 30))  # the stall
        d.rectangle((box[0] + 10, box[1] - 30, box[2] - 10, box[1]), fill=(230, 60, 60))  # umbrella
    d.text((10, H - 24), f"CAM {tag}", font=_font(14), fill="white")
    if annotated:
        pts = [(x * W, y * H) for x, y in ZONE]
        d.line([*pts, pts[0]], fill=(255, 212, 59), width=2)
        d.rectangle(box, outline=(255, 0, 0), width=3)
        d.text(
            (box[0], box[1] - 52),
            f"{CLASS_ZH.get(label, label)} 0.91 占道",
            font=_font(16),
            fill=(255, 255, 0),
        )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def object_box(tag: str, shift: int = 0) -> tuple[int, int, int, int]:
    """Where :func:`street` draws the object (a different spot per case, inside the zone)."""
    x0 = 40 + 80 * (sum(tag.encode()) % 3) + shift
    return (x0, 215, x0 + 190, 320)


@cache
def crop_of(tag: str, label: str = "stall") -> bytes:
    """The object cut out of the confirming still (as the edge's ``crop.jpg``), with a margin."""
    x1, y1, x2, y2 = object_box(tag, 3 * 8)
    img = Image.open(io.BytesIO(street(tag, shift=3 * 8, label=label)))
    buf = io.BytesIO()
    img.crop((max(0, x1 - 28), max(0, y1 - 40), min(W, x2 + 28), min(H, y2 + 16))).save(
        buf, "JPEG", quality=90
    )
    return buf.getvalue()


@cache
def clip_mp4() -> bytes:
    """Three seconds of the street with a moving stall, H.264 in MP4 (faststart), 10 fps."""
    frames = b"".join(street("clip", shift=i * 6) for i in range(30))
    proc = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "image2pipe", "-framerate", "10", "-c:v", "mjpeg",
         "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-movflags", "+faststart+frag_keyframe+empty_moov", "-f", "mp4", "-"],
        input=frames, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return proc.stdout


def files_and_stills(tag: str, ts: dt.datetime, label: str = "stall") -> tuple[dict[str, Any], list[Still]]:
    """Three raw stills with annotated copies, a crop and the clip; the manifest's stills list."""
    moments = [("first_seen", 300), ("between", 150), ("confirmed", 0)]
    files: dict[str, tuple[str, str, bytes]] = {}
    stills: list[Still] = []
    for n, (moment, ago) in enumerate(moments, start=1):
        raw, ann = f"still-{n}-{moment}.jpg", f"still-{n}-{moment}.annotated.jpg"
        files[raw] = ("still_raw", "image/jpeg", street(tag, shift=n * 8))
        files[ann] = ("still_annotated", "image/jpeg", street(tag, shift=n * 8, annotated=True, label=label))
        stills.append(
            Still(
                moment=moment,
                frame_utc=utc_ms(ts - dt.timedelta(seconds=ago)),
                frame_index=1 + (300 - ago) * 2,
                raw=raw,
                annotated=ann,
                box=(60.0 + n * 8, 215.0, 250.0 + n * 8, 320.0),
            )
        )
    files["crop.jpg"] = ("crop", "image/jpeg", crop_of(tag, label))
    files["clip.mp4"] = ("clip", "video/mp4", clip_mp4())
    return files, stills


MODEL = ModelRef(
    name="nce-street-test.onnx",
    sha256="ab" * 32,
    classes=["stall", "goods", "umbrella", "banner", "ad_board", "poster", "garbage"],
    conf=0.25,
    iou=0.45,
    providers=["CPUExecutionProvider"],
    imgsz=(640, 640),
)


# the cameras as the site config names and places them (carried in every package's manifest)
CAMERAS: dict[str, CameraRef] = {
    "cam-01": CameraRef(
        id="cam-01",
        name="友谊路 东口",
        location=LocationRef(lat=31.4045, lon=121.4890, address="宝山区 友谊路 100 号 对面"),
    ),
    "cam-02": CameraRef(
        id="cam-02",
        name="牡丹江路 菜场",
        location=LocationRef(lat=31.4071, lon=121.4862, address="宝山区 牡丹江路 230 号"),
    ),
    "cam-03": CameraRef(id="cam-03", name="团结路 垃圾房", location=LocationRef(lat=31.4020, lon=121.4931)),
}


@dataclass(frozen=True)
class Spec:
    violation: str
    camera_id: str
    shop_id: str | None
    minutes: int  # after T0
    zone_kind: str = "shop_frontage"
    label: str = "stall"
    event: str = "confirmed"


# two hours ago, so that the dashboard's window (ending today) holds the seeded cases
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(second=0, microsecond=0)


def deliver(client: Any, device: DeviceHandle, spec: Spec, *, tag: str) -> dict[str, Any]:
    """Sign and post one package; return the service's answer (raises on anything but 201)."""
    ts = T0 + dt.timedelta(minutes=spec.minutes)
    files, stills = files_and_stills(tag, ts, spec.label)
    pkg = device.package(
        violation=spec.violation,
        camera_id=spec.camera_id,
        shop_id=spec.shop_id,
        zone_id=f"z-{spec.camera_id}",
        ts=ts,
        event=spec.event,
        files=files,
        stills=stills,
        zone=ZoneRef(id=f"z-{spec.camera_id}", kind=spec.zone_kind, name="门前", polygon=ZONE),
        camera=CAMERAS.get(spec.camera_id) or CameraRef(id=spec.camera_id, name=spec.camera_id),
        label=spec.label,
        model=MODEL,
        ocr=OcrResult(
            engine="rapidocr-onnxruntime (test)",
            lines=[],
            text="开业大酬宾 订购热线 13800001234",
            phones=["13800001234"],
            note=None,
        )
        if spec.label == "banner"
        else None,
    )
    response = device.post(client, pkg)
    if response.status_code != 201:
        raise AssertionError(f"ingest failed: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


SECRET = "console-test-secret-0123456789"
PASSWORD = "operator password 1"
OPERATOR = "op1"

# the seeded world, oldest first: the last one is the newest draft
SPECS: dict[str, Spec] = {
    "prior": Spec("piled_goods", "cam-01", "S-0001", 0),
    "garbage": Spec("exposed_garbage", "cam-03", None, 10, zone_kind="sidewalk", label="garbage"),
    "ad": Spec("illegal_ad", "cam-02", "S-0002", 20, zone_kind="no_ads", label="banner"),
    "vending": Spec("street_vending", "cam-02", None, 30, zone_kind="sidewalk", label="umbrella"),
    "newest": Spec("out_of_shop_trading", "cam-01", "S-0001", 40),
}


@dataclass
class World:
    app: Any
    state: AppState
    dir: Path
    device: DeviceHandle
    cases: dict[str, int] = field(default_factory=dict)

    def session(self) -> Any:
        return self.state.sessions()

    def user(self, role: str, username: str, password_hash: str) -> str:
        """Add a user; return a bearer token of a session of theirs."""
        return add_user(self.state.sessions, role=role, username=username, password_hash=password_hash)

    def case_system_token(self) -> str:
        with self.session() as s:
            return add_client(s, name=f"ecase-{secrets.token_hex(3)}", actor="test")

    def count(self, table: str) -> int:
        with self.state.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


Client = tuple[World, TestClient]


def make_world(base: Path, template: Path | None, password_hash: str, db_url: str | None = None) -> World:
    """A service on a copy of the migrated SQLite ``template`` (or on ``db_url``, migrated already)."""
    base.mkdir(parents=True, exist_ok=True)
    if db_url is None:
        assert template is not None
        db = base / "nce.sqlite3"
        shutil.copyfile(template, db)
        db_url = f"sqlite:///{db}"
    settings = Settings(
        db_url=db_url,
        evidence_dir=base / "evidence",
        secret_key=SECRET,
        service_key_file=service_key_file(base),
        accept_changed_settings=True,  # the tests share one database (service.replica_settings)
        migrate_on_start=False,
        sweep_interval_s=0,
        cookie_secure=False,  # the test client and the browser speak plain HTTP
    )
    app = create_app(settings)
    state: AppState = app.state.nce
    key = new_key()
    with state.sessions() as s:
        token = add_device(s, device_id="edge-01", public_key=pub_b64(key), actor="test")
        s.add(Shop(shop_id="S-0001", name="老王水果店", code="310113-0001", address="宝山区友谊路 88 号"))
        s.add(Shop(shop_id="S-0002", name="好运便利店", code="310113-0002", address="宝山区友谊路 92 号"))
        s.commit()
    world = World(app, state, base, DeviceHandle("edge-01", key, token))
    world.user("operator", OPERATOR, password_hash)
    return world


def seed(world: World, client: Any, names: list[str] | None = None) -> None:
    """Deliver the packages through the API; 'prior' is confirmed (the shop's history)."""
    for name in names or list(SPECS):
        body = deliver(client, world.device, SPECS[name], tag=name)
        world.cases[name] = int(body["case_id"])
    if "prior" in world.cases:
        from service.auth import Principal
        from service.crud.case_actions import review_case
        from service.schemas.cases import ReviewIn

        with world.session() as s:
            review_case(
                s,
                principal=Principal("user", "supervisor1", "supervisor"),
                case_id=world.cases["prior"],
                data=ReviewIn(decision="confirm"),
                legal=world.state.legal,
                store=world.state.store,
            )


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no csrf field on the page"
    return m.group(1)


def sign_in(client: TestClient, username: str = OPERATOR, password: str = PASSWORD) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@contextmanager
def served_world(
    base: Path,
    template: Path | None,
    password_hash: str,
    *,
    users: Sequence[tuple[str, str]] = (),
    seeded: bool = False,
) -> Iterator[tuple[World, str]]:
    """A fresh world served on a free loopback port (the browser tests' site): ``users`` as (role,
    username) with the test password's hash, and with ``seeded`` every case of :data:`SPECS`."""
    world = make_world(base, template, password_hash)
    for role, username in users:
        world.user(role, username, password_hash)
    with serving(world.app) as url:
        if seeded:
            with httpx.Client(base_url=url, timeout=30) as client:
                seed(world, client, list(SPECS))
        yield world, url
