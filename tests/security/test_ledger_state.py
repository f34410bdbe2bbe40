"""The ledger protects the state of cases, not only itself (SQLite and PostgreSQL, the real app).

An attacker with write access to the database edits ``cases``, ``evidence_files``, ``hit_events`` or
``shops`` directly, cuts the ledger's tail and rewinds its head, or rewrites the chain around a removed
entry: each is reported by ``GET /api/v1/ledger/verify``, ``GET /api/v1/ledger/state`` and
``nce ledger verify`` (exit 1), one line per difference naming the entry that says otherwise. A ledger
written by the old code (no case state in its entries) verifies without a false alarm and says what it
could not check. A shop renamed or deleted after review no longer changes an exported case's party. A
case with thousands of events has a bounded detail whose pages walk every event exactly once.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from nce.cli import main as nce_main
from nce.times import utc_ms
from service import ledger
from service.legal import LegalBasis, LegalBasisTable
from service.models import Base, HitEventRow, LedgerEntry, utcnow
from tests.security.old_ledger_make import fill
from tests.support.service_api import Api

OLD_LEDGER = Path(__file__).parent / "data" / "old_ledger.json"


# --- a world with every kind of case ---------------------------------------------------------------


def build_world(api: Api) -> dict[str, Any]:
    """A confirmed case (shop S-0001), a case under notice with a plain event, a draft without a shop,
    and last a dismissed case (its review is the ledger's last entry)."""
    sup, op = api.user("supervisor", "sup1"), api.user("operator", "op1")
    shop = {"shop_id": "S-0001", "name": "老王水果店", "code": "310113-0001", "address": "宝山区友谊路 88 号"}
    api.client.post("/api/v1/shops", json=shop, headers=sup).raise_for_status()
    dev = api.device("edge-01")
    w: dict[str, Any] = {"sup": sup, "op": op, "dev": dev}
    pkg_a = dev.package(shop_id="S-0001")
    w["a"] = dev.post(api.client, pkg_a).json()["case_id"]
    w["pkg_a"] = pkg_a
    review = {"decision": "confirm", "reason": "占道经营属实"}
    api.client.post(f"/api/v1/cases/{w['a']}/review", json=review, headers=op).raise_for_status()
    pkg_c = dev.package(shop_id="S-0003", violation="piled_goods")
    w["c"] = dev.post(api.client, pkg_c).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{w['c']}/review", json={"decision": "confirm"}, headers=sup
    ).raise_for_status()
    deadline = (utcnow() + dt.timedelta(days=2)).isoformat()
    api.client.post(
        f"/api/v1/cases/{w['c']}/notice", json={"deadline": deadline}, headers=sup
    ).raise_for_status()
    event = {
        "event": "still_present", "hit_id": pkg_c.manifest.event.hit_id, "site_id": "sh-bs-01",
        "camera_id": "cam-01", "zone_id": "z-front-1", "shop_id": "S-0003", "violation": "piled_goods",
        "track_id": 7, "label": "goods", "score": 0.9, "box": [1, 2, 3, 4], "ts": pkg_c.manifest.event.ts,
        "first_seen": pkg_c.manifest.event.first_seen, "last_seen": pkg_c.manifest.event.ts,
        "dwell_s": 600.0, "sightings": 10,
    }  # fmt: skip
    r = api.client.post("/api/v1/hits/events", json=event, headers={**dev.headers, "Idempotency-Key": "ev-c"})
    assert r.status_code == 201 and r.json()["case_id"] == w["c"], r.text
    w["d"] = dev.post(api.client, dev.package(shop_id=None, zone_id="z-side-1")).json()["case_id"]
    w["b"] = dev.post(api.client, dev.package(shop_id="S-0002")).json()["case_id"]
    dismiss = {"decision": "dismiss", "reason": "误检"}
    api.client.post(f"/api/v1/cases/{w['b']}/review", json=dismiss, headers=op).raise_for_status()
    assert len({w["a"], w["b"], w["c"], w["d"]}) == 4
    return w


def verify_api(api: Api) -> dict[str, Any]:
    r = api.client.get("/api/v1/ledger/verify", headers=api.user("admin"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def state_api(api: Api) -> dict[str, Any]:
    r = api.client.get("/api/v1/ledger/state", headers=api.user("supervisor"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def entry_action(api: Api, seq: int) -> str:
    with api.session() as s:
        return str(s.execute(select(LedgerEntry.action).where(LedgerEntry.seq == seq)).scalar_one())


def last_seq(conn: Connection, action: str, case_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT MAX(seq) FROM ledger WHERE action = :a AND case_id = :c"),
            {"a": action, "c": case_id},
        ).scalar_one()
    )


def remove_entry_and_rewrite_chain(conn: Connection, seq: int) -> None:
    """What an attacker with the code can do: remove an entry, renumber and rehash every entry after it
    and move the head to the new end (the hash chain then verifies)."""
    table = LedgerEntry.__table__
    after = [
        dict(r._mapping) for r in conn.execute(select(table).where(table.c.seq > seq).order_by(table.c.seq))
    ]
    prev = conn.execute(select(table.c.hash).where(table.c.seq == seq - 1)).scalar_one()
    conn.execute(table.delete().where(table.c.seq >= seq))
    n = seq - 1
    for row in after:
        n += 1
        digest = ledger.entry_hash(
            seq=n, ts=row["ts"], actor=row["actor"], action=row["action"], case_id=row["case_id"],
            payload_hash=row["payload_hash"], prev_hash=prev,
        )  # fmt: skip
        conn.execute(table.insert().values(**{**row, "seq": n, "prev_hash": prev, "hash": digest}))
        prev = digest
    conn.execute(text("UPDATE ledger_head SET seq = :n, hash = :h WHERE id = 1"), {"n": n, "h": prev})


def cut_tail_and_rewind_head(conn: Connection, seq: int) -> None:
    conn.execute(text("DELETE FROM ledger WHERE seq >= :s"), {"s": seq})
    head = conn.execute(text("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")).one()
    conn.execute(
        text("UPDATE ledger_head SET seq = :n, hash = :h WHERE id = 1"), {"n": head[0], "h": head[1]}
    )


def sql(statement: str) -> Callable[[Connection, dict[str, Any]], None]:
    def run(conn: Connection, w: dict[str, Any]) -> None:
        conn.execute(text(statement.format(**w)))

    return run


def _file_sha(w: dict[str, Any], name: str) -> str:
    return str(w["pkg_a"].manifest.files[[f.name for f in w["pkg_a"].manifest.files].index(name)].sha256)


def _delete_clip(conn: Connection, w: dict[str, Any]) -> None:
    conn.execute(text("DELETE FROM evidence_files WHERE sha256 = :s"), {"s": _file_sha(w, "clip.mp4")})


def _swap_crop(conn: Connection, w: dict[str, Any]) -> None:
    conn.execute(
        text("UPDATE evidence_files SET sha256 = :f WHERE sha256 = :s"),
        {"f": "f" * 64, "s": _file_sha(w, "crop.jpg")},
    )


def _add_file(conn: Connection, w: dict[str, Any]) -> None:
    event_id = conn.execute(
        text("SELECT id FROM hit_events WHERE package_id = :p"), {"p": w["pkg_a"].manifest.package_id}
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO evidence_files (event_id, name, role, sha256, size, mime) "
            "VALUES (:e, 'extra.jpg', 'still_raw', :s, 10, 'image/jpeg')"
        ),
        {"e": event_id, "s": "a" * 64},
    )


# (name, tamper, line reported (regex, {a} {b} … are the world's cases), differences, the entry named)
ATTACKS: list[tuple[str, Callable[[Connection, dict[str, Any]], None], str, int, str | None]] = [
    (
        "cases.status edited",
        sql("UPDATE cases SET status = 'confirmed' WHERE id = {b}"),
        r"case {b}: status is 'confirmed' in cases, ledger says 'dismissed' \(entry (\d+)\)",
        1,
        "case_reviewed",
    ),
    (
        "cases.reviewed_by edited",
        sql("UPDATE cases SET reviewed_by = 'mallory' WHERE id = {a}"),
        r"case {a}: reviewed_by is 'mallory' in cases, ledger says 'op1' \(entry (\d+)\)",
        1,
        "case_reviewed",
    ),
    (
        "cases.review_reason edited",
        sql("UPDATE cases SET review_reason = '证据充分' WHERE id = {b}"),
        r"case {b}: review_reason is '证据充分' in cases, ledger says '误检' \(entry (\d+)\)",
        1,
        "case_reviewed",
    ),
    (
        "cases.violation edited",
        sql("UPDATE cases SET violation = 'street_vending' WHERE id = {a}"),
        r"case {a}: violation is 'street_vending' in cases, ledger says 'out_of_shop_trading' \(entry (\d+)\)",
        1,
        "hit_ingested",
    ),
    (
        "notice deadline moved",
        sql("UPDATE cases SET notice_deadline = '2099-01-01 00:00:00' WHERE id = {c}"),
        r"case {c}: notice_deadline is '2099-01-01T00:00:00.000Z' in cases, ledger says '[^']+' \(entry (\d+)\)",
        1,
        "notice_issued",
    ),
    (
        "sightings edited",
        sql("UPDATE cases SET sightings = 0 WHERE id = {c}"),
        r"case {c}: sightings is 0 in cases, ledger says 2 \(entry (\d+)\)",
        1,
        "hit_event",
    ),
    (
        "evidence_files row deleted",
        _delete_clip,
        r"case {a}: evidence file sha256 [0-9a-f]{{12}}… \(clip.mp4 of package edge-01-\d+\) is in the ledger "
        r"\(entry (\d+)\), missing from evidence_files",
        1,
        "hit_ingested",
    ),
    (
        "evidence file hash swapped",
        _swap_crop,
        r"case {a}: evidence file crop.jpg of package edge-01-\d+ is sha256 ffffffffffff… in evidence_files, "
        r"ledger says [0-9a-f]{{12}}… \(entry (\d+)\)",
        1,
        "hit_ingested",
    ),
    (
        "evidence file added",
        _add_file,
        r"case {a}: evidence file sha256 aaaaaaaaaaaa… \(extra.jpg of package edge-01-\d+\) not in the ledger",
        1,
        None,
    ),
    (
        "package moved to another case",
        sql("UPDATE hit_events SET case_id = {d} WHERE case_id = {a}"),
        r"case {d}: package edge-01-\d+ is in case {d} in hit_events, ledger says case {a} \(entry (\d+)\)",
        1,
        "hit_ingested",
    ),
    (
        "plain event deleted",
        sql("DELETE FROM hit_events WHERE case_id = {c} AND manifest_hash IS NULL"),
        r"case {c}: event still_present of hit \S+ from edge-01 at \S+ is in the ledger \(entry (\d+)\), "
        r"missing from hit_events",
        1,
        "hit_event",
    ),
    (
        "shop renamed in the table",
        sql("UPDATE shops SET name = '假名' WHERE shop_id = 'S-0001'"),
        r"shop S-0001: name is '假名' in shops, ledger says '老王水果店' \(entry (\d+)\)",
        1,
        "shop_created",
    ),
    (
        "ledger tail cut and head rewound",
        lambda conn, w: cut_tail_and_rewind_head(conn, last_seq(conn, "case_reviewed", w["b"])),
        r"case {b}: status is 'dismissed' in cases, ledger says 'draft' \(entry (\d+)\)",
        4,  # status, reviewed_by, reviewed_at, review_reason
        "hit_ingested",
    ),
    (
        "entry removed and the chain rewritten",
        lambda conn, w: remove_entry_and_rewrite_chain(conn, last_seq(conn, "case_reviewed", w["a"])),
        r"case {a}: status is 'confirmed' in cases, ledger says 'draft' \(entry (\d+)\)",
        4,  # status, reviewed_by, reviewed_at, review_reason
        "hit_ingested",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "line", "count", "named"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_a_direct_edit_of_the_tables_is_reported(api, capsys, tamper, line, count, named):
    w = build_world(api)
    before = verify_api(api)
    assert before["ok"] is True and before["reason"] is None, before  # no false alarm
    with api.state.engine.begin() as conn:
        tamper(conn, w)
    pattern = re.compile(line.format(**w))
    r = verify_api(api)
    assert r["ok"] is False and r["reason"].startswith("the tables differ from the ledger"), r
    state = state_api(api)
    lines = [d["message"] for d in state["differences"]]
    assert state["ok"] is False and len(lines) == count, lines
    found = [m for m in map(pattern.fullmatch, lines) if m]
    assert found, (pattern.pattern, lines)
    if named is not None:
        assert entry_action(api, int(found[0].group(1))) == named
    capsys.readouterr()
    assert nce_main(["ledger", "verify", "--db", api.url]) == 1
    out = capsys.readouterr().out
    assert any(pattern.fullmatch(x) for x in out.splitlines()), out
    assert "tables DIFFER from the ledger" in out and "ledger OK" in out  # the chain itself verifies
    assert nce_main(["ledger", "verify", "--db", api.url, "--json"]) == 1
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["ok"] is False and as_json["chain_ok"] is True and len(as_json["differences"]) == count


def test_every_flow_of_the_service_verifies_clean(api, capsys):
    """Reviews, a corrected violation, notices settled by the deadline sweep (corrected, and escalated
    on a signed sighting after the deadline), exports, a public copy, merged hits, plain events, a chain gap, a package
    without a case, shop renames and deletions: no difference, nothing left unchecked."""
    fill(api.client, api.state)
    state = state_api(api)
    assert state["ok"] is True and state["differences"] == [] and state["unchecked"] == [], state
    assert state["cases"] == 5 and state["packages"] == 10 and state["shops"] == 2, state
    assert verify_api(api)["ok"] is True
    assert nce_main(["ledger", "verify", "--db", api.url]) == 0
    assert "tables OK: 5 cases, 10 packages" in capsys.readouterr().out


# --- a ledger written by the old code ----------------------------------------------------------------


def load_old_ledger(api: Api) -> dict[str, Any]:
    """The rows of ``data/old_ledger.json`` (made by ``old_ledger_make.py`` on the code before the ledger
    recorded case state) into the empty, migrated database."""
    data = json.loads(OLD_LEDGER.read_text(encoding="utf-8"))
    tables = data["tables"]
    with api.state.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            rows = tables.get(table.name) or []
            if table.name == "ledger_head":
                head = rows[0]
                conn.execute(
                    text("UPDATE ledger_head SET seq = :s, hash = :h WHERE id = 1"),
                    {"s": head["seq"], "h": head["hash"]},
                )
                continue
            out = []
            for row in rows:
                values = {}
                for col in table.columns:
                    if col.name not in row:
                        continue
                    v = row[col.name]
                    kind = type(col.type).__name__
                    if v is not None and kind == "UTCDateTime":
                        v = dt.datetime.fromisoformat(v).replace(tzinfo=dt.UTC)
                    elif v is not None and kind == "JSON" and isinstance(v, str):
                        v = json.loads(v)
                    elif v is not None and kind == "Boolean":
                        v = bool(v)
                    values[col.name] = v
                out.append(values)
            if out:
                conn.execute(table.insert(), out)
        if conn.dialect.name == "postgresql":
            for name in (
                "cases",
                "hit_events",
                "evidence_files",
                "users",
                "clients",
                "auth_sessions",
                "idempotency_keys",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), COALESCE(MAX(id), 1)) FROM {name}"
                    )
                )
    return tables


def test_an_old_ledger_verifies_without_false_alarms_and_says_what_it_cannot_check(api, capsys):
    tables = load_old_ledger(api)
    assert {e["action"] for e in tables["ledger"]} >= {
        "hit_ingested", "hit_event", "case_reviewed", "notice_issued", "case_corrected", "case_escalated",
        "case_exported", "shop_created", "shop_updated", "shop_deleted",
    }  # fmt: skip
    assert not any("case" in json.loads(e["payload"]) for e in tables["ledger"])  # no case state recorded
    r = verify_api(api)
    assert r["ok"] is True and r["entries"] == len(tables["ledger"]), r
    state = state_api(api)
    assert state["ok"] is True and state["differences"] == [], state["differences"]
    assert state["cases"] == len(tables["cases"]) == 5
    unchecked = " ".join(state["unchecked"])
    for name in ("first_seen", "sightings", "reviewed_at", "exported_at", "manifest.json"):
        assert name in unchecked, unchecked
    for name in ("status", "review_reason", "notice_deadline"):  # replayed from the old payloads
        assert f" {name} (" not in unchecked, unchecked
    assert nce_main(["ledger", "verify", "--db", api.url]) == 0
    out = capsys.readouterr().out
    assert "not checked: " in out and "tables OK" in out, out
    # what old entries do carry is still protected
    dismissed = next(c["id"] for c in tables["cases"] if c["status"] == "dismissed")
    exported = [c["id"] for c in tables["cases"] if c["status"] == "exported"]
    with api.state.engine.begin() as conn:
        conn.execute(
            text("UPDATE cases SET status = 'confirmed', review_reason = NULL WHERE id = :i"),
            {"i": dismissed},
        )
        conn.execute(
            text(
                "DELETE FROM evidence_files WHERE name = 'clip.mp4' AND event_id IN (SELECT id FROM hit_events WHERE case_id = :c)"
            ),
            {"c": exported[0]},
        )
    lines = [d["message"] for d in state_api(api)["differences"]]
    assert f"case {dismissed}: status is 'confirmed' in cases, ledger says 'dismissed'" in "\n".join(lines), (
        lines
    )
    assert f"case {dismissed}: review_reason is null in cases, ledger says '误检'" in "\n".join(lines), lines
    assert any(
        x.startswith(f"case {exported[0]}: evidence file sha256 ") and "clip.mp4" in x for x in lines
    ), lines
    assert len(lines) == 3, lines
    assert nce_main(["ledger", "verify", "--db", api.url]) == 1


# --- the party and the legal basis as recorded --------------------------------------------------------

SHOP = {"shop_id": "S-0001", "name": "老王水果店", "code": "310113-0001", "address": "宝山区友谊路 88 号"}


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_a_shop_changed_after_review_does_not_change_the_exported_party(api, change):
    sup = api.user("supervisor")
    api.client.post("/api/v1/shops", json=SHOP, headers=sup).raise_for_status()
    dev = api.device()
    case_id = dev.post(api.client, dev.package(shop_id="S-0001")).json()["case_id"]
    api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm"}, headers=sup
    ).raise_for_status()
    basis_at_review = api.state.legal.for_violation("out_of_shop_trading")
    assert basis_at_review is not None
    if change == "rename":
        r = api.client.patch(
            "/api/v1/shops/S-0001", json={"name": "新名字超市", "address": "别处"}, headers=sup
        )
        assert r.status_code == 200 and r.json()["name"] == "新名字超市"
    else:
        assert api.client.delete("/api/v1/shops/S-0001", headers=sup).status_code == 204
    # the legal-basis table changes too (a new version of configs/legal_basis.yaml)
    api.state.legal = LegalBasisTable(
        jurisdiction="上海市",
        bases={"out_of_shop_trading": LegalBasis(regulation="《新条例》", source="test", verified=True)},  # type: ignore[dict-item]
    )
    # a draft of the same shop filed now shows the registry as it is
    draft = dev.post(api.client, dev.package(shop_id="S-0001", violation="piled_goods")).json()["case_id"]
    draft_detail = api.client.get(f"/api/v1/cases/{draft}", headers=sup).json()
    assert draft_detail["recorded"] is None
    assert (draft_detail["party"] or {}).get("name") == ("新名字超市" if change == "rename" else None)
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=sup).json()
    assert detail["party"]["name"] == "老王水果店" and detail["party"]["address"] == SHOP["address"]
    assert detail["legal_basis"] == basis_at_review.model_dump(mode="json")
    assert (
        detail["recorded"]["action"] == "case_reviewed"
        and detail["recorded"]["legal_basis_id"] == "out_of_shop_trading"
    )
    assert detail["recorded"]["legal_basis_version"].startswith("sha256:")
    r = api.client.get(f"/api/v1/cases/{case_id}/export", headers=api.case_system())
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    case_json = json.loads(zf.read("case.json"))
    assert case_json["party"]["name"] == "老王水果店" and case_json["party"]["code"] == SHOP["code"]
    assert case_json["legal_basis"]["regulation"] == basis_at_review.regulation
    readme = zf.read("README.txt").decode()
    assert "party.name: 老王水果店" in readme and "新名字超市" not in readme, readme
    assert f"legal basis.regulation: {basis_at_review.regulation}" in readme, readme
    exported = json.loads(zf.read("ledger.json"))[-1]
    assert exported["action"] == "case_exported" and exported["payload"]["party"]["name"] == "老王水果店"
    # the change of the shop is itself a ledger entry, with the row it left behind
    with api.session() as s:
        shop_entries = [
            (e.action, e.actor, e.payload)
            for e in s.execute(
                select(LedgerEntry).where(LedgerEntry.action.like("shop_%")).order_by(LedgerEntry.seq)
            ).scalars()
        ]
    action, actor, payload = shop_entries[-1]
    assert action == ("shop_updated" if change == "rename" else "shop_deleted") and actor.startswith("user:")
    assert payload["shop"]["name"] == ("新名字超市" if change == "rename" else "老王水果店")
    assert verify_api(api)["ok"] is True


# --- a case with thousands of events ------------------------------------------------------------------

EVENTS = 4000


def add_plain_events(api: Api, case_id: int, n: int) -> None:
    """``n`` still_present events of the case's hit, stored and recorded as the ingest does (one
    transaction: the HTTP round trips of 4,000 posts are not what is tested here)."""
    with api.session() as s:
        ledger.lock_head(s)
        first = s.execute(select(HitEventRow).where(HitEventRow.case_id == case_id)).scalars().first()
        assert first is not None
        for i in range(n):
            ts = first.ts + dt.timedelta(seconds=10 * (i + 1))
            s.add(
                HitEventRow(
                    device_id=first.device_id, hit_id=first.hit_id, event="still_present", case_id=case_id,
                    violation=first.violation, camera_id=first.camera_id, zone_id=first.zone_id,
                    shop_id=first.shop_id, ts=ts,
                )
            )  # fmt: skip
            payload = {"hit_id": first.hit_id, "event": "still_present", "ts": utc_ms(ts)}
            ledger.append(
                s, actor=f"device:{first.device_id}", action="hit_event", case_id=case_id, payload=payload
            )
        s.commit()


def walk(api: Api, headers: dict[str, str], url: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while url:
        r = api.client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        pages += 1
        url = body["next"]
        assert pages < 1000
    return items, pages


def test_a_case_with_4000_events_has_a_bounded_detail_and_pages_that_walk_every_event_once(api, capsys):
    dev = api.device()
    op = api.user("operator")
    case_id = dev.post(api.client, dev.package()).json()["case_id"]
    add_plain_events(api, case_id, EVENTS)
    with api.session() as s:
        hit_ids = list(
            s.execute(
                select(HitEventRow.id).where(HitEventRow.case_id == case_id).order_by(HitEventRow.id)
            ).scalars()
        )
        seqs = list(
            s.execute(
                select(LedgerEntry.seq).where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.seq)
            ).scalars()
        )
    assert len(hit_ids) == len(seqs) == EVENTS + 1

    r = api.client.get(f"/api/v1/cases/{case_id}", headers=op)
    assert r.status_code == 200
    detail = r.json()
    size = len(r.content)
    print(f"\ncase detail with {EVENTS + 1} hits and ledger entries: {size} bytes")
    assert size < 256 * 1024, size
    assert {"case", "hits", "party", "legal_basis", "shop_history", "ledger"} <= set(detail)  # the contract
    assert [h["id"] for h in detail["hits"]] == hit_ids[:100]
    assert [e["seq"] for e in detail["ledger"]] == seqs[:100]
    assert detail["hits_total"] == detail["ledger_total"] == EVENTS + 1
    assert detail["hits_next"].startswith(f"/api/v1/cases/{case_id}/events?cursor=")

    # the detail's next links, then bigger pages: every event and entry exactly once, in order
    for first_url, want, key in (
        (detail["hits_next"], hit_ids[100:], "id"),
        (detail["ledger_next"], seqs[100:], "seq"),
        (f"/api/v1/cases/{case_id}/events?limit=500", hit_ids, "id"),
        (f"/api/v1/cases/{case_id}/ledger?limit=500", seqs, "seq"),
    ):
        items, pages = walk(api, op, first_url)
        assert [x[key] for x in items] == want
        assert pages == -(-len(want) // (500 if "limit=500" in first_url else 100))

    for bad in ("limit=0", "limit=501", "cursor=bm90LWEtY3Vyc29y", "cursor=" + "x" * 201):
        assert api.client.get(f"/api/v1/cases/{case_id}/events?{bad}", headers=op).status_code == 422, bad
        assert api.client.get(f"/api/v1/cases/{case_id}/ledger?{bad}", headers=op).status_code == 422, bad
    # a hits cursor is not a ledger cursor
    cursor = api.client.get(f"/api/v1/cases/{case_id}/events?limit=5", headers=op).json()["next_cursor"]
    assert api.client.get(f"/api/v1/cases/{case_id}/ledger?cursor={cursor}", headers=op).status_code == 422
    # a case system sees a draft's pages as little as the draft (404)
    assert api.client.get(f"/api/v1/cases/{case_id}/events", headers=api.case_system()).status_code == 404

    # the console: the latest entries, and "more" links back through the older ones
    page = api.client.get(f"/cases/{case_id}", headers=op)
    assert page.status_code == 200
    print(f"console case page: {len(page.content)} bytes")
    assert len(page.content) < 512 * 1024
    html = page.text
    assert f"另有 {EVENTS + 1 - 60} 条未显示" in html
    ledger_html = html[html.index('id="ledger"') :]
    assert ledger_html.count("<tr data-action=") == 100
    assert f"更早的 {EVENTS + 1 - 100} 条记录未显示" in ledger_html
    more = re.search(r'id="ledger-more" href="([^"]+)"', html)
    assert more is not None
    seen: list[int] = []
    url: str | None = more.group(1).replace("&amp;", "&")
    shown = [int(x) for x in re.findall(r'<tr data-action="[a-z_]+"><td class="num">(\d+)</td>', ledger_html)]
    while url:
        older = api.client.get(url, headers=op)
        assert older.status_code == 200
        seen = [int(x) for x in re.findall(r'data-seq="(\d+)"', older.text)] + seen
        nxt = re.search(r'id="earlier-link" href="([^"]+)"', older.text)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen + shown == seqs
    events_more = re.search(r'id="events-more" href="([^"]+)"', html)
    assert events_more is not None
    older = api.client.get(events_more.group(1).replace("&amp;", "&"), headers=op).text
    ids = [int(x) for x in re.findall(r'<tr data-id="(\d+)">', older)]
    assert len(ids) == 100 and ids == sorted(ids) and max(ids) < hit_ids[-50]


ROLES = ["anonymous", "device", "operator", "supervisor", "admin", "case_system"]
# (path, {role: status}); {case} is a confirmed case, {draft} a draft
NEW_ROUTES: list[tuple[str, dict[str, int]]] = [
    ("/api/v1/ledger/state", dict(zip(ROLES, [401, 403, 403, 200, 200, 403], strict=True))),
    ("/api/v1/cases/{case}/events", dict(zip(ROLES, [401, 403, 200, 200, 200, 200], strict=True))),
    ("/api/v1/cases/{case}/ledger", dict(zip(ROLES, [401, 403, 200, 200, 200, 200], strict=True))),
    ("/api/v1/cases/{draft}/events", dict(zip(ROLES, [401, 403, 200, 200, 200, 404], strict=True))),
    ("/api/v1/cases/{draft}/ledger", dict(zip(ROLES, [401, 403, 200, 200, 200, 404], strict=True))),
    ("/api/v1/cases/999999/events", dict(zip(ROLES, [401, 403, 404, 404, 404, 404], strict=True))),
]


@pytest.mark.parametrize(("path", "expected"), NEW_ROUTES, ids=[p for p, _ in NEW_ROUTES])
def test_who_may_read_the_new_routes(api, path, expected):
    w = build_world(api)
    url = path.format(case=w["a"], draft=w["d"])
    got = {role: api.client.get(url, headers=api.headers(role)).status_code for role in ROLES}
    assert got == expected
