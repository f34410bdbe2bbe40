"""Notices to hand over in person (现场送达: the shop has no mobile number, the case is flagged
``notice_in_person``): the case list's ``delivery=in_person`` filter finds them, on SQLite and
PostgreSQL, and refuses a delivery it does not know."""

from __future__ import annotations

from tests.service.test_svc_outbox import noticed_case, wired
from tests.support.receivers import Receiver
from tests.support.service_api import Api

__all__ = ["wired"]


def test_the_case_list_finds_the_notices_to_hand_over_in_person(
    wired: tuple[Api, Receiver, Receiver],
) -> None:
    api, _gateway, _hook = wired
    by_sms = noticed_case(api, "S-1")
    in_person = noticed_case(api, "S-2", contact="前台座机 021-5555 1234")
    also = noticed_case(api, "S-3", contact=None)
    op = api.user("operator")
    every = api.client.get("/api/v1/cases", headers=op).json()["items"]
    assert {c["id"] for c in every} >= {by_sms, in_person, also}
    got = api.client.get("/api/v1/cases", params={"delivery": "in_person"}, headers=op)
    assert got.status_code == 200, got.text
    assert [c["id"] for c in got.json()["items"]] == [also, in_person]  # newest first
    assert all("notice_in_person" in c["flags"] for c in got.json()["items"])
    shop_two = api.client.get("/api/v1/cases", params={"delivery": "in_person", "shop_id": "S-2"}, headers=op)
    assert [c["id"] for c in shop_two.json()["items"]] == [in_person]
    paged = api.client.get("/api/v1/cases", params={"delivery": "in_person", "limit": 1}, headers=op).json()
    rest = api.client.get(
        "/api/v1/cases", params={"delivery": "in_person", "cursor": paged["next_cursor"]}, headers=op
    ).json()
    assert [c["id"] for c in paged["items"] + rest["items"]] == [also, in_person]
    bad = api.client.get("/api/v1/cases", params={"delivery": "pigeon"}, headers=op)
    assert bad.status_code == 422 and "in_person" in bad.text
