"""The evidence a case is decided on, as an operator sees it: one large still with the object's crop
beside it and the other stills as a strip, the crop as the queue's thumbnail, names (camera, address,
Chinese class names) rather than ids, the camera on a plan of the site, the legal basis with its
citations marked as not yet checked by the legal office, and the timeline in the order things
happened."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest

from service.console.cameras import CameraPlace, place_of, plan_svg
from service.console.view import build
from service.schemas.cases import CaseDetail, HitPublic
from service.schemas.hits import EvidenceFilePublic
from tests.support.console import Client, crop_of, sign_in

EVIDENCE_URL = r"/api/v1/evidence/([0-9a-f]{64})"


def test_the_case_page_shows_a_large_still_the_crop_and_a_strip(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get(f"/cases/{w.cases['newest']}").text
    main = html[html.index('id="still-main"') : html.index('id="still-crop"')]
    crop = html[html.index('id="still-crop"') : html.index('id="still-strip"')]
    strip = html[html.index('id="still-strip"') : html.index("</section>", html.index('id="still-strip"'))]
    assert main.count('class="still-img"') == 1 and "确认" in main  # the confirming still
    assert strip.count('class="still-img"') == 2 and "首次发现" in strip
    sha = 'id="crop-img"' in crop and re.search(EVIDENCE_URL, crop)
    assert sha and sha.group(1) == hashlib.sha256(crop_of("newest")).hexdigest()
    assert "目标特写" in crop and "摊位" in crop


def test_names_not_ids_and_chinese_class_names(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get(f"/cases/{w.cases['ad']}").text
    assert re.search(r'id="camera-name">牡丹江路 菜场 <span class="muted">\(cam-02\)</span>', html)
    assert 'id="camera-address">宝山区 牡丹江路 230 号<' in html
    assert 'id="detected">横幅 · 0.' in html and "banner" not in html
    english = client.get(f"/cases/{w.cases['ad']}?lang=en").text  # the English catalogue for English
    assert 'id="detected">banner · 0.' in english and "Close-up of the object</b> banner" in english
    queue = client.get("/?lang=zh-CN").text  # back to Chinese (the cookie remembers the language)
    rows = {m.group(1): m.group(2) for m in re.finditer(r'data-case="(\d+)">(.*?)</tr>', queue, re.S)}
    newest = rows[str(w.cases["newest"])]
    assert '<td class="camera" title="cam-01">友谊路 东口</td>' in newest
    assert '<td class="location">宝山区 友谊路 100 号 对面</td>' in newest
    assert "老王水果店" in newest and "S-0001" not in newest
    dash = client.get("/dashboard?days=7").text
    chart = dash[dash.index('id="chart-class"') : dash.index('id="activity"')]
    assert "摊位" in chart and "stall" not in chart  # the confirmed piled_goods case's class
    camera_chart = dash[dash.index('id="chart-camera"') : dash.index('id="chart-rule"')]
    assert "友谊路 东口" in camera_chart and "cam-01" not in camera_chart


def test_the_queue_thumbnail_is_the_objects_crop(world: Client) -> None:
    w, client = world
    sign_in(client)
    queue = client.get("/").text
    for name in ("newest", "ad"):
        row = re.search(rf'data-case="{w.cases[name]}">(.*?)</tr>', queue, re.S)
        assert row is not None
        thumb = re.search(rf'<td class="thumb">.*?{EVIDENCE_URL}', row.group(1), re.S)
        label = "banner" if name == "ad" else "stall"
        assert thumb and thumb.group(1) == hashlib.sha256(crop_of(name, label)).hexdigest()


def test_the_camera_is_marked_on_a_plan_of_the_sites_cameras(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get(f"/cases/{w.cases['ad']}").text
    plan = html[html.index('id="camera-plan"') : html.index("</svg>", html.index('id="camera-plan"'))]
    assert re.findall(r'data-camera="([^"]+)"', plan) == ["cam-01", "cam-02"]  # the seeded ones; here last
    assert re.search(
        r'<g class="plan-here" data-camera="cam-02"><circle[^>]+/><text[^>]*>牡丹江路 菜场<', plan
    )
    assert "http" not in plan.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no tiles fetched


def test_the_legal_box_cites_the_regulation_and_is_marked_unverified(world: Client) -> None:
    w, client = world
    sign_in(client)
    html = client.get(f"/cases/{w.cases['newest']}").text
    legal = html[html.index('id="legal"') : html.index("</section>", html.index('id="legal"'))]
    assert "未经法制部门审核" in legal and "《上海市市容环境卫生管理条例》" in legal
    assert "100–1000 元" in legal and "可以处一百元以上一千元以下罚款" in legal
    assert "DOMAIN" not in legal and "未查到" not in legal
    ad = client.get(f"/cases/{w.cases['ad']}").text
    legal = ad[ad.index('id="legal"') : ad.index("</section>", ad.index('id="legal"'))]
    assert 'id="legal-penalty-text"' in legal and "第三十四条" in legal and "罚款幅度" not in legal


T = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)


def hit(i: int, event: str, minutes: int, received: int) -> HitPublic:
    return HitPublic(
        id=i, hit_id="h1", event=event, device_id="edge-01", seq=i, package_id=f"edge-01-{i:08d}",
        manifest_hash=None, ts=T + dt.timedelta(minutes=minutes), received_at=T + dt.timedelta(minutes=received),
        chain_gap=False, signed=True,
        files=[EvidenceFilePublic(name="crop.jpg", role="crop", sha256="a" * 64, size=1, mime="image/jpeg", url=f"/c/{i}")],
    )  # fmt: skip


def test_the_timeline_is_in_the_order_things_happened() -> None:
    # a still_present package held in the outbox arrives after the clearance that followed it
    hits = [
        hit(1, "opened", 0, 1),
        hit(2, "confirmed", 5, 6),
        hit(3, "cleared", 30, 31),
        hit(4, "still_present", 20, 40),
    ]
    detail = CaseDetail.model_construct(hits=hits, hits_total=4)
    view = build(detail, {})
    assert [h.event for h in view.timeline] == ["opened", "confirmed", "still_present", "cleared"]
    assert view.crop_url == "/c/4"  # no stills: the latest package's crop


def test_an_h265_clip_is_shown_by_its_h264_preview() -> None:
    def clip_file(name: str, role: str, i: int) -> EvidenceFilePublic:
        return EvidenceFilePublic(
            name=name, role=role, sha256="a" * 64, size=1, mime="video/mp4", url=f"/{name}/{i}"
        )

    h264, hevc = hit(1, "confirmed", 5, 6), hit(2, "confirmed", 6, 7)
    h264.files.append(clip_file("clip.mp4", "clip", 1))
    hevc.files += [clip_file("clip.mp4", "clip", 2), clip_file("clip.preview.mp4", "clip_preview", 2)]
    view = build(CaseDetail.model_construct(hits=[h264, hevc], hits_total=2), {})
    assert [c.url for c in view.clips] == ["/clip.preview.mp4/2", "/clip.mp4/1"]


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({}, CameraPlace("cam")),
        ({"camera": "cam"}, CameraPlace("cam")),
        ({"camera": {"name": 5, "location": [31.4, 121.4]}}, CameraPlace("cam")),
        ({"camera": {"name": "", "location": {"lat": "31.4", "lon": True}}}, CameraPlace("cam")),
        ({"camera": {"name": "东口", "location": {"lat": 31.4}}}, CameraPlace("cam", "东口", lat=31.4)),
        (
            {
                "camera": {"name": "东口", "location": {"lat": 31, "lon": 121.5, "address": "友谊路"}},
                "site": {"id": "s"},
            },
            CameraPlace("cam", "东口", "友谊路", 31.0, 121.5, "s"),
        ),
    ],
)
def test_a_malformed_camera_in_a_manifest_is_left_out(
    manifest: dict[str, Any], expected: CameraPlace
) -> None:
    assert place_of("cam", manifest) == expected


def test_the_plan_needs_the_cameras_position() -> None:
    here = CameraPlace("a", "东口", lat=31.4, lon=121.4)
    assert plan_svg("a", [CameraPlace("a", "东口")], "plan") is None  # no position: no plan
    alone = str(plan_svg("a", [here], "plan"))
    assert 'cx="160.0" cy="100.0"' in alone and ">东口<" in alone  # one camera: in the middle
    escaped = str(plan_svg("a", [here, CameraPlace("b", "<b>", lat=31.41, lon=121.41)], "p"))
    assert "&lt;b&gt;" in escaped and "<b>" not in escaped
