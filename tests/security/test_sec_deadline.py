"""Who settles a notice's deadline: the sweeper, on the server's clock, from signed evidence only.

A case gets a notice whose deadline lies two seconds ahead. Each row sends something before or after
that deadline (by the server's clock), dated before or after it (by the device's clock), signed or
not; then the sweeper runs on the server's clock. A device's time counts no later than its arrival.
Unsigned events never change a status; a package changes nothing by itself; escalation needs a
signed sighting dated after the deadline that arrived after it; correction needs a signed
``cleared`` package after the notice, not dated before the deadline yet delivered after it, and no
signed sighting after the deadline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.security.sec_service import Notice, Service, now, package, wait_until
from tests.support.devices import DeviceHandle, files_for

SEC = dt.timedelta(seconds=1)
DEADLINE_S = 2.0


def _unsigned(event: str, *, after: bool) -> Callable[[Service, DeviceHandle, Notice], httpx.Response]:
    def send(case_svc: Service, dev: DeviceHandle, n: Notice) -> httpx.Response:
        if after:
            wait_until(n.deadline)
        return case_svc.event(dev, event=event, hit_id=n.confirmed.manifest.event.hit_id, ts=now())

    return send


def _signed(
    event: str, *, dated: str, arrives: str, last_seen: str | None = None
) -> Callable[[Service, DeviceHandle, Notice], httpx.Response]:
    """A signed ``still_present`` (a sighting) or ``cleared`` package of the case's hit, dated just
    ``before`` or ``after`` the deadline (or ``now``), delivered before or after it."""

    def send(case_svc: Service, dev: DeviceHandle, n: Notice) -> httpx.Response:
        if arrives == "after":
            wait_until(n.deadline)
        t = {"before": n.deadline - SEC / 2, "after": n.deadline + SEC, "now": now()}[dated]
        seen = t if last_seen is None else {"before": n.deadline - SEC / 2, "after": t}[last_seen]
        times = {"ts": t, "first_seen": seen - 5 * SEC, "last_seen": seen}
        kwargs: dict[str, object] = {"hit_id": n.confirmed.manifest.event.hit_id, "event": event, "ts": t}
        if event == "cleared":
            times["cleared_at"] = t
            kwargs |= {
                "kind": "cleared",
                "files": {"still-1-first_seen.jpg": files_for("empty")["still-1-first_seen.jpg"]},
                "stills": [],
            }
        r = case_svc.post(dev, package(dev, times=times, **kwargs))  # type: ignore[arg-type]
        if arrives == "before":
            assert now() < n.deadline, "the package should have arrived before the deadline (slow machine?)"
        return r

    return send


@dataclass(frozen=True)
class Row:
    send: Callable[[Service, DeviceHandle, Notice], httpx.Response]
    settled: str  # the case's status after the sweeper ran past the deadline


ROWS = [
    # unsigned events: sightings and times, never a status
    pytest.param(Row(_unsigned("still_present", after=True), "notice_issued"), id="unsigned-sighting-after"),
    pytest.param(Row(_unsigned("cleared", after=True), "notice_issued"), id="unsigned-cleared-after"),
    pytest.param(Row(_unsigned("cleared", after=False), "notice_issued"), id="unsigned-cleared-before-quiet"),
    # signed packages dated and delivered after the deadline: the sweeper settles
    pytest.param(
        Row(_signed("still_present", dated="now", arrives="after"), "escalated"), id="signed-sighting-after"
    ),
    pytest.param(
        Row(_signed("cleared", dated="now", arrives="after", last_seen="before"), "corrected"),
        id="signed-cleared-after-last-seen-before",
    ),
    pytest.param(
        Row(_signed("cleared", dated="now", arrives="after", last_seen="after"), "escalated"),
        id="signed-cleared-after-but-seen-after",
    ),
    # a signed clearance in hand before the deadline, then quiet: corrected (the usual case)
    pytest.param(
        Row(_signed("cleared", dated="now", arrives="before"), "corrected"), id="signed-cleared-before-quiet"
    ),
    # dated before the deadline, delivered after it: proves nothing about the deadline
    pytest.param(
        Row(_signed("still_present", dated="before", arrives="after"), "notice_issued"),
        id="signed-sighting-dated-before-arrives-after",
    ),
    pytest.param(
        Row(_signed("cleared", dated="before", arrives="after"), "notice_issued"),
        id="signed-cleared-dated-before-arrives-after",
    ),
    # dated after the deadline, delivered before it (a clock running ahead): the time counts from
    # the arrival, so no sighting after the deadline; the clearance is one made before the deadline
    pytest.param(
        Row(_signed("still_present", dated="after", arrives="before"), "notice_issued"),
        id="signed-sighting-dated-after-arrives-before",
    ),
    pytest.param(
        Row(_signed("cleared", dated="after", arrives="before"), "corrected"),
        id="signed-cleared-dated-after-arrives-before",
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_only_the_sweeper_settles_a_deadline_from_signed_evidence(case_svc: Service, row: Row) -> None:
    dev = case_svc.device()
    n = case_svc.notice(dev, deadline_s=DEADLINE_S)
    r = row.send(case_svc, dev, n)
    assert r.status_code == 201, r.text
    assert (r.json()["case_id"], r.json()["case_status"]) == (n.case_id, "notice_issued")
    wait_until(n.deadline)
    settled = case_svc.sweep()
    assert settled == ([] if row.settled == "notice_issued" else [(n.case_id, row.settled)])
    detail = case_svc.case(n.case_id)
    assert detail["case"]["status"] == row.settled
    moves = [e for e in detail["ledger"] if e["action"] in ("case_escalated", "case_corrected")]
    assert [e["actor"] for e in moves] == ([] if row.settled == "notice_issued" else ["system:deadline"])
    assert case_svc.sweep() == []  # settled once
