"""Ten devices delivering at once, each package sent twice at the same time: no duplicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.servers import serving

DEVICES = 10
PACKAGES = 4


def test_ten_devices_concurrently_without_duplicates(api):
    devices = [api.device(f"edge-{i:02d}") for i in range(DEVICES)]
    # two shops: every device's hits for a shop must end in one case, however they interleave
    plans = {
        d.device_id: [d.package(shop_id=f"S-{i % 2}") for _ in range(PACKAGES)] for i, d in enumerate(devices)
    }
    statuses: list[tuple[str, int, int | None]] = []

    def deliver(device, copy: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for pkg in plans[device.device_id]:
                key = f"{device.device_id}:{pkg.manifest.sequence}"
                r = http.post(
                    "/api/v1/hits", files=pkg.multipart(), headers={**device.headers, "Idempotency-Key": key}
                )
                statuses.append((key, r.status_code, r.json().get("case_id")))

    with serving(api.client.app) as base, ThreadPoolExecutor(max_workers=2 * DEVICES) as pool:
        futures = [pool.submit(deliver, d, c) for d in devices for c in (0, 1)]
        for f in futures:
            f.result()
    assert {s for _, s, _ in statuses} <= {200, 201}, statuses
    created = [k for k, s, _ in statuses if s == 201]
    assert len(created) == DEVICES * PACKAGES == len(set(created))
    assert api.count("hit_events") == DEVICES * PACKAGES
    assert api.count("cases") == 2
    by_key: dict[str, set[int | None]] = {}
    for key, _, case_id in statuses:
        by_key.setdefault(key, set()).add(case_id)
    assert all(len(v) == 1 for v in by_key.values())  # the repeat got the same answer
    verify = api.client.get("/api/v1/ledger/verify", headers=api.user("admin")).json()
    # one hit_ingested a package, one device_enrolled a device
    assert verify["ok"] and verify["entries"] == DEVICES * PACKAGES + DEVICES
    print(
        f"\n{len(statuses)} requests, {len(created)} created, {len(statuses) - len(created)} repeats, 0 duplicates"
    )
