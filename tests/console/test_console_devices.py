"""The devices page (设备) pages its fleet: PAGE_DEVICES devices a page, problems first, the alerts at
the top counting every device; ``?page=`` out of range or not a number shows a page that exists."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from service.console import devices
from service.models import Device, utcnow
from service.models_fleet import DeviceHealth
from tests.support.console import Client, World, sign_in


def fleet(w: World, n: int, down: set[int]) -> None:
    """``n`` more devices with a heartbeat, those in ``down`` last heard of a day ago."""
    now = utcnow()
    with w.session() as s:
        for i in range(n):
            device_id = f"box-{i:02d}"
            s.add(Device(device_id=device_id, public_key="AAAA", token_hash=f"{i:064x}"))
            s.flush()
            last = now - dt.timedelta(days=1) if i in down else now
            s.add(DeviceHealth(device_id=device_id, last_at=last, report={"version": "t"}, offset_ms=0))
        s.commit()


def shown(html: str) -> list[str]:
    return re.findall(r'<tr class="device [^"]*" data-device="([^"]+)"', html)


def test_the_devices_page_pages_its_fleet_problems_first(
    world: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, client = world
    fleet(w, 7, down={3, 5})
    monkeypatch.setattr(devices, "PAGE_DEVICES", 3)
    sign_in(client)
    first = client.get("/devices").text
    everyone = shown(first)
    assert everyone[:2] == ["box-03", "box-05"] and len(everyone) == 3  # the down ones first
    assert 'data-devices="2"' in first  # the alerts count the whole fleet, not the page
    assert 'data-page="1" data-pages="3"' in first and 'id="devices-prev"' not in first
    assert "第 1/3 页，共 8 台设备" in first  # seven boxes and the world's edge-01
    pages = [everyone]
    url = re.search(r'href="([^"]+)" id="devices-next"', first)
    while url is not None:
        html = client.get(url.group(1).replace("&amp;", "&")).text
        pages.append(shown(html))
        url = re.search(r'href="([^"]+)" id="devices-next"', html)
    every = [d for page in pages for d in page]
    assert [len(p) for p in pages] == [3, 3, 2] and len(set(every)) == 8
    assert 'id="devices-prev"' in client.get("/devices?page=2").text
    assert shown(client.get("/devices?page=99").text) == pages[-1]  # past the end: the last page
    assert shown(client.get("/devices?page=x").text) == pages[0]
