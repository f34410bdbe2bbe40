"""The zone editor (区域编辑, ``/zones``): who may open it, the preview and load posts (validation
errors table-driven, one line each), the YAML it writes loads with the edge's own config loader
(round trip through ``detector.config.parse_site_config``), and in real Chromium: a supervisor draws
a polygon with the mouse on the camera's latest frame, sets its kind and reads the YAML. A
screenshot goes to ``test-output/console/zones.png``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from detector.config import SiteConfig, parse_site_config
from nce.zones import ZoneSheet, yaml_lines
from service.crud.frames import add_frame
from service.models import Case, Frame
from service.schemas.frames import FrameCreate
from tests.support.chromium import OUT, needs_chromium, signed_in
from tests.support.console import Client, World, csrf_of, served_world, sign_in, street

ROOT = Path(__file__).resolve().parents[2]
SQUARE = [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]


def a_frame(w: World, camera_id: str = "cam-07") -> int:
    with w.state.sessions() as s:
        frame, _ = add_frame(
            s, store=w.state.store, image=street(f"zones-{camera_id}"),
            data=FrameCreate(camera_id=camera_id, source="sample", reason="periodic"), actor="device:edge-01",
        )  # fmt: skip
        return int(frame.id)


def as_supervisor(w: World, client: Any, password_hash: str) -> str:
    w.user("supervisor", "sup1", password_hash)
    sign_in(client, "sup1")
    return csrf_of(client.get("/zones").text)


def post(client: Any, url: str, token: str, data: Any) -> Any:
    return client.post(
        url, content=json.dumps(data), headers={"X-CSRF": token, "Content-Type": "application/json"}
    )


def edge_config(text: str) -> SiteConfig:
    """The example site config with its first camera's zones and masks replaced by ``text``."""
    data = yaml.safe_load((ROOT / "configs" / "site.example.yaml").read_text(encoding="utf-8"))
    site = copy.deepcopy(data)
    site["cameras"][0].update(yaml.safe_load(text))
    return parse_site_config(site, "site.yaml", base_dir=ROOT / "configs")


# --- roles ------------------------------------------------------------------------------------------


def test_operators_are_refused_supervisors_see_the_latest_frame(world: Client, password_hash: str) -> None:
    w, client = world
    first, other = a_frame(w, "cam-07"), a_frame(w, "cam-08")
    sign_in(client)
    r = client.get("/zones")
    assert r.status_code == 403 and "只有主管和管理员可以编辑区域" in r.text
    assert 'id="nav-zones"' not in r.text
    token = csrf_of(client.get("/").text)
    assert post(client, "/zones/preview", token, {"zones": []}).status_code == 403
    client.cookies.clear()
    as_supervisor(w, client, password_hash)
    r = client.get("/zones")
    assert r.status_code == 200 and 'id="nav-zones" class="on"' in r.text
    # the cases' cameras, named as their packages name them, and the frame pool's
    options = re.findall(r'<option value="([^"]+)" (selected)?>([^<]*)</option>', r.text)
    assert ("cam-01", "selected", "cam-01 · 友谊路 东口") in options and ("cam-07", "", "cam-07") in options
    # a camera with no frame in the pool shows the newest raw still of its latest case
    with w.session() as s:
        pooled = set(s.execute(select(Frame.camera_id)).scalars())
        bare = sorted(set(s.execute(select(Case.camera_id)).scalars()) - pooled)[0]
    m = re.search(rf'<img src="(/api/v1/[^"]+)" alt="{bare}"', client.get(f"/zones?camera={bare}").text)
    assert m and m.group(1).startswith("/api/v1/evidence/"), m
    assert client.get(m.group(1)).headers["content-type"] == "image/jpeg"
    assert f'<img src="/api/v1/frames/{first}/image"' in client.get("/zones?camera=cam-07").text
    assert f'<img src="/api/v1/frames/{other}/image"' in client.get("/zones?camera=cam-08").text
    assert client.get("/zones?camera=bad%20id").status_code == 422
    assert "Zone editor" in client.get("/zones?lang=en").text


# --- validation -------------------------------------------------------------------------------------

BAD = [
    ({"zones": [{"id": "z1", "kind": "road", "polygon": SQUARE[:2]}]}, "zones[0].polygon: expected at least 3 points, got 2"),
    ({"zones": [{"id": "z1", "kind": "road", "polygon": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]}]},
     "zones[0].polygon: point 1 [1.2, 0.1] is outside the frame"),
    ({"zones": [{"id": "z1", "kind": "parking", "polygon": SQUARE}]}, "zones[0].kind: Input should be"),
    ({"zones": [{"id": "z1", "kind": "road", "polygon": SQUARE}, {"id": "z1", "kind": "sidewalk", "polygon": SQUARE}]},
     "duplicate zone id 'z1'"),
    ({"zones": [{"id": "z 1", "kind": "road", "polygon": SQUARE}]}, "zones[0].id: "),
    ({"zones": [{"id": "z1", "kind": "shop_frontage", "polygon": SQUARE}]}, "must name its shop"),
    ({"zones": [{"id": "z1", "kind": "road", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]}, "has no area"),
    ({"masks": [{"classes": ["cat"], "polygon": SQUARE}]}, "masks[0].classes: unknown class 'cat'"),
    ({"zones": [{"id": "z1", "kind": "road", "polygon": SQUARE, "colour": "red"}]}, "zones[0].colour: Extra inputs"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "shown"), BAD)
def test_a_bad_drawing_is_one_line(
    world: Client, password_hash: str, body: dict[str, Any], shown: str
) -> None:
    w, client = world
    token = as_supervisor(w, client, password_hash)
    r = post(client, "/zones/preview", token, body)
    assert r.status_code == 422 and shown in r.json()["error"] and "\n" not in r.json()["error"]
    # the same problem in pasted lines
    r = post(client, "/zones/load", token, {"text": yaml.safe_dump(body, allow_unicode=True)})
    assert r.status_code == 422 and shown in r.json()["error"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [("zones: [", "not YAML at line"), ("42", "expected zones and masks"), ("a: 1", "no zones: or masks: found"), ("", "nothing pasted")],
)  # fmt: skip
def test_pasted_lines_that_are_not_zones(world: Client, password_hash: str, text: str, shown: str) -> None:
    w, client = world
    token = as_supervisor(w, client, password_hash)
    r = post(client, "/zones/load", token, {"text": text})
    assert r.status_code == 422 and shown in r.json()["error"]


def test_without_the_csrf_header_nothing_is_answered(world: Client, password_hash: str) -> None:
    w, client = world
    as_supervisor(w, client, password_hash)
    r = client.post("/zones/preview", json={"zones": []})
    assert r.status_code == 403 and "yaml" not in r.text


# --- round trip through the edge's loader -------------------------------------------------------------


def test_the_yaml_loads_with_the_edge_loader_and_loads_back(world: Client, password_hash: str) -> None:
    w, client = world
    token = as_supervisor(w, client, password_hash)
    drawn = {
        "camera_id": "cam-01",
        "zones": [
            {"id": "z-front-9", "kind": "shop_frontage", "shop_id": "S-0001", "name": "好又多 门前: \"东\"",
             "polygon": [[0.123456, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]},
            {"id": "123", "kind": "no_ads", "polygon": [[0, 0], [1, 0], [1, 0.3]],
             "exemptions": [{"start": "18:00", "end": "21:00"}]},
        ],
        "masks": [{"classes": ["ad_board", "person"], "polygon": [[0.6, 0.1], [0.8, 0.1], [0.8, 0.4]]}],
    }  # fmt: skip
    r = post(client, "/zones/preview", token, drawn)
    assert r.status_code == 200, r.text
    text = r.json()["yaml"]
    assert "[0.1235, 0.5]" in text and 'id: "123"' in text
    cam = edge_config(text).cameras[0]
    assert [z.id for z in cam.zones] == ["z-front-9", "123"]
    assert cam.zones[0].polygon[0] == (0.1235, 0.5) and cam.zones[0].name == '好又多 门前: "东"'
    assert cam.zones[1].exemptions[0].start.hour == 18
    assert cam.masks[0].classes == ["ad_board", "person"]
    loaded = post(client, "/zones/load", token, {"text": text})
    assert loaded.status_code == 200
    assert yaml_lines(ZoneSheet.model_validate(loaded.json()), "cam-01") == text
    # the example config's own camera entry loads as it is
    example = yaml.safe_load((ROOT / "configs" / "site.example.yaml").read_text(encoding="utf-8"))
    one = {"cameras": [example["cameras"][0]]}
    loaded = post(client, "/zones/load", token, {"text": yaml.safe_dump(one, allow_unicode=True)})
    assert loaded.status_code == 200 and loaded.json()["zones"]
    assert edge_config(yaml_lines(ZoneSheet.model_validate(loaded.json()))).cameras[0].zones


def test_nothing_drawn_is_an_empty_camera(world: Client, password_hash: str) -> None:
    w, client = world
    token = as_supervisor(w, client, password_hash)
    text = post(client, "/zones/preview", token, {"zones": [], "masks": []}).json()["yaml"]
    cam = edge_config(text).cameras[0]
    assert cam.zones == [] and cam.masks == []


# --- in Chromium --------------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, template_db: Path, password_hash: str) -> Iterator[tuple[World, str]]:
    with served_world(tmp_path / "svc", template_db, password_hash, users=[("supervisor", "sup1")]) as site:
        yield site


@pytest.fixture
def page(browser: Browser, site: tuple[World, str]) -> Iterator[Page]:
    """A supervisor signed in through the sign-in form; no JavaScript errors allowed."""
    with signed_in(browser, site[1], "sup1", timezone_id=None) as pg:
        yield pg


@needs_chromium
def test_drawing_a_zone_in_chromium(page: Page, site: tuple[World, str]) -> None:
    world, _url = site
    a_frame(world)
    pg = page
    pg.click("#nav-zones")
    pg.wait_for_url(re.compile(r"/zones$"))
    pg.wait_for_function("() => document.getElementById('zone-img').naturalWidth === 640")
    img, svg = pg.locator("#zone-img").bounding_box(), pg.locator("#zone-svg").bounding_box()
    assert img and svg and abs(img["width"] - svg["width"]) < 1 and abs(img["height"] - svg["height"]) < 1
    assert abs(img["width"] / img["height"] - 640 / 360) < 0.01  # the frame's own aspect ratio

    def at(fx: float, fy: float) -> tuple[float, float]:
        return img["x"] + fx * img["width"], img["y"] + fy * img["height"]

    for fx, fy in [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9)]:
        pg.mouse.click(*at(fx, fy))
    pg.mouse.dblclick(*at(0.1, 0.9))  # the fourth point, and close
    pg.wait_for_selector("#zone-form:not([hidden])")
    pg.select_option("#zone-kind", "shop_frontage")
    pg.fill("#zone-shop", "S-0001")
    pg.fill("#zone-name", "老王水果店 门前")
    pg.wait_for_function("() => document.getElementById('zone-yaml').textContent.includes('S-0001')")
    # drag the last point a little, then add a mask and delete it with the keyboard
    pg.mouse.move(*at(0.1, 0.9))
    pg.mouse.down()
    pg.mouse.move(*at(0.08, 0.95), steps=4)
    pg.mouse.up()
    pg.wait_for_function("() => !document.getElementById('zone-yaml').textContent.includes('[0.1, 0.9]')")
    text = pg.locator("#zone-yaml").text_content() or ""
    assert pg.locator("#zone-error").is_hidden()
    data = yaml.safe_load(text)
    (zone,) = data["zones"]
    assert (
        zone["kind"] == "shop_frontage" and zone["shop_id"] == "S-0001" and zone["name"] == "老王水果店 门前"
    )
    assert len(zone["polygon"]) == 4
    for (x, y), (ex, ey) in zip(
        zone["polygon"], [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9), (0.08, 0.95)], strict=True
    ):
        assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01
    assert edge_config(text).cameras[0].zones[0].shop_id == "S-0001"
    for fx, fy in [(0.7, 0.1), (0.9, 0.1), (0.9, 0.3)]:
        pg.mouse.click(*at(fx, fy))
    pg.keyboard.press("Enter")
    pg.select_option("#zone-kind", "mask")
    pg.wait_for_function("() => document.getElementById('zone-yaml').textContent.includes('masks:\\n-')")
    OUT.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(OUT / "zones.png"), full_page=True)
    assert yaml.safe_load(pg.locator("#zone-yaml").text_content() or "")["masks"][0]["classes"] == [
        "ad_board"
    ]
    pg.focus("#zone-svg")
    pg.keyboard.press("Delete")  # the selected mask
    pg.wait_for_function("() => document.getElementById('zone-yaml').textContent.includes('masks: []')")
    # an unfinished drawing is cancelled by Esc; a wrong id is one line
    pg.mouse.click(*at(0.6, 0.6))
    pg.keyboard.press("Escape")
    pg.locator("#zone-list li").first.click()
    pg.fill("#zone-id", "bad id")
    pg.wait_for_selector("#zone-error:not([hidden])")
    assert "zones[0].id" in (pg.locator("#zone-error").text_content() or "")
    with pg.expect_download() as dl:
        pg.fill("#zone-id", "z-front-1")
        pg.wait_for_function("() => document.getElementById('zone-error').hidden")
        pg.click("#zone-download")
    assert "z-front-1" in Path(dl.value.path()).read_text(encoding="utf-8")


def test_the_mirror_matches_the_edge_models() -> None:
    """nce.zones mirrors detector.config's Zone and Mask: the same kinds, classes and fields."""
    from detector.config import DETECTOR_CLASSES, ZONE_KINDS, Mask, Zone
    from nce.zones import MASK_CLASSES, MaskDraft, ZoneDraft
    from nce.zones import ZONE_KINDS as DRAFT_KINDS

    assert DRAFT_KINDS == ZONE_KINDS and MASK_CLASSES == DETECTOR_CLASSES
    assert set(ZoneDraft.model_fields) == set(Zone.model_fields)
    assert set(MaskDraft.model_fields) == set(Mask.model_fields)
