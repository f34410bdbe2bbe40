"""Times from the future: a device's clock may run at most 300 s ahead of the server's.

An event or package dated further ahead is refused (422, one line naming the field) and changes
nothing; one within the allowance is taken, and still settles nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.security.sec_service import Service, now, package

MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# (the event, the field that lies ahead, how far, the words of the refusal; None: taken)
EVENT_TIMES = [
    pytest.param("cleared", "ts", 30 * DAY, "30 days", id="cleared-30-days-ahead"),
    pytest.param("still_present", "ts", 30 * DAY, "30 days", id="still_present-30-days-ahead"),
    pytest.param("still_present", "ts", 6 * MIN, "6 min", id="ts-6-min-ahead"),
    pytest.param("still_present", "last_seen", 6 * MIN, "6 min", id="last_seen-6-min-ahead"),
    pytest.param("opened", "first_seen", 2 * DAY, "2 days", id="first_seen-2-days-ahead"),
    pytest.param("cleared", "ts", 4 * MIN, None, id="cleared-4-min-ahead-taken"),
    pytest.param("still_present", "ts", 4 * MIN, None, id="still_present-4-min-ahead-taken"),
]


@pytest.mark.parametrize(("event", "field", "ahead", "words"), EVENT_TIMES)
def test_a_future_event_is_refused_and_settles_nothing(
    case_svc: Service, event: str, field: str, ahead: dt.timedelta, words: str | None
) -> None:
    dev = case_svc.device()
    n = case_svc.notice(dev, deadline_s=3600)
    before = case_svc.stored()
    t = now()
    times = {"ts": t, "first_seen": t - 5 * MIN, "last_seen": t}
    times[field] += ahead
    if field == "ts":
        times["last_seen"] = times["ts"]
    r = case_svc.event(dev, event=event, hit_id=n.confirmed.manifest.event.hit_id, **times)
    if words is None:
        assert r.status_code == 201, r.text
        assert r.json()["case_status"] == "notice_issued"
    else:
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail, detail
        assert detail.startswith(f"{field}: "), detail
        assert f"is {words} ahead of the server clock; at most 300 s allowed" in detail, detail
        assert case_svc.stored() == before  # no row, no ledger entry
    assert case_svc.sweep() == []  # the deadline is an hour away
    case = case_svc.case(n.case_id)["case"]
    assert (case["status"], case["cleared_at"]) == ("notice_issued", None)


# (the manifest's field that lies ahead, how far, the words of the refusal; None: taken)
PACKAGE_TIMES = [
    pytest.param("event.ts", 6 * MIN, "6 min", id="event.ts-6-min-ahead"),
    pytest.param("event.ts", 30 * DAY, "30 days", id="event.ts-30-days-ahead"),
    pytest.param("event.last_seen", 6 * MIN, "6 min", id="event.last_seen-6-min-ahead"),
    pytest.param("created_at", 2 * HOUR, "2 h", id="created_at-2-h-ahead"),
    pytest.param("event.ts", 4 * MIN, None, id="event.ts-4-min-ahead-taken"),
]


@pytest.mark.parametrize(("field", "ahead", "words"), PACKAGE_TIMES)
def test_a_future_package_is_refused_and_stores_nothing(
    case_svc: Service, field: str, ahead: dt.timedelta, words: str | None
) -> None:
    dev = case_svc.device()
    n = case_svc.notice(dev, deadline_s=3600)
    hit_id = n.confirmed.manifest.event.hit_id
    before = case_svc.stored()
    t = now()
    times = {"ts": t, "last_seen": t}
    created_at = t
    if field == "created_at":
        created_at = t + ahead
    else:
        times[field.removeprefix("event.")] += ahead
        times["last_seen"] = max(times["last_seen"], times["ts"])
    pkg = package(
        dev,
        hit_id=hit_id,
        event="still_present",
        ts=t,
        times=times,
        created_at=created_at,
        advance=words is None,
    )
    r = case_svc.post(dev, pkg)
    if words is None:
        assert r.status_code == 201, r.text
        assert r.json()["case_status"] == "notice_issued"
    else:
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "\n" not in detail and detail.startswith(f"{field}: "), detail
        assert f"is {words} ahead of the server clock; at most 300 s allowed" in detail, detail
        assert case_svc.stored() == before
        # the device's chain is where it was: a package with the same sequence, dated now, is taken
        again = case_svc.post(dev, package(dev, hit_id=hit_id, event="still_present", ts=t))
        assert again.status_code == 201, again.text
    assert case_svc.sweep() == []
    assert case_svc.status(n.case_id) == "notice_issued"
