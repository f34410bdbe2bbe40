"""The console's side of the shop page: the public copy of a case (生成公开副本 records a request;
the sweeper runs the edge's ``nce evidence publish`` as a subprocess; the shop page shows the stills
only after 公开副本已审核), the QR codes on /shops and a new link, and the case export with the shop's statement and photo,
which ``nce evidence verify`` still passes (and fails when either is altered)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from nce.export_verify import verify_export
from service import public_copies
from service.crud.case_actions import review_case
from service.models import EvidenceFile, HitEventRow, LedgerEntry
from service.models_shop_page import PublicStill
from service.public_copies import make_due_public_copies, run_jobs
from service.schemas.cases import ReviewIn
from tests.console.test_console_admin import as_user, post_form
from tests.support.console import Client, World, sign_in
from tests.support.images import jpeg
from tests.support.shop_page import SUPERVISOR, link, notice, state_statement, upload


def entries(w: World, action: str) -> list[LedgerEntry]:
    with w.session() as s:
        return list(s.execute(select(LedgerEntry).where(LedgerEntry.action == action)).scalars())


def test_public_copy_is_made_by_the_edge_command_and_shown_only_once_approved(
    world: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    sign_in(client)
    page = client.get(f"/cases/{case_id}").text
    assert 'id="public-none"' in page and 'id="public-make-form"' in page

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("the request ran a subprocess")

    with monkeypatch.context() as m:  # the click must not start `nce evidence publish`
        m.setattr(public_copies.subprocess, "run", no_subprocess)
        r = post_form(client, f"/cases/{case_id}/public-copy", page=f"/cases/{case_id}")
    assert r.status_code == 303, r.text[-2000:]
    # the click recorded a request and returned: nothing made yet, the page says it is pending
    assert [(e.actor, e.case_id) for e in entries(w, "public_copy_requested")] == [("user:op1", case_id)]
    assert entries(w, "public_copy_made") == []
    page = client.get(f"/cases/{case_id}").text
    assert (
        'data-state="pending"' in page
        and "已申请生成公开副本" in page
        and 'id="public-make-form"' not in page
    )
    assert post_form(client, f"/cases/{case_id}/public-copy", page=f"/cases/{case_id}").status_code == 303
    assert len(entries(w, "public_copy_requested")) == 1  # asked again while pending: one request
    with w.session() as s:  # the leader's sweeper carries it out
        assert run_jobs(s, store=w.state.store) == [(case_id, "made")]
    page = client.get(f"/cases/{case_id}").text
    assert 'data-state="done"' in page and "公开副本已生成" in page and 'id="public-make-form"' in page
    with w.session() as s:
        stills = list(s.execute(select(PublicStill).where(PublicStill.case_id == case_id)).scalars())
    assert stills and all(x.approved_at is None for x in stills)
    originals = {x.sha256 for x in stills}
    with w.session() as s:  # the blurred stills are new files, not the originals
        from service.models import EvidenceFile

        assert not originals & set(s.execute(select(EvidenceFile.sha256)).scalars())
    made = entries(w, "public_copy_made")
    assert (
        len(made) == 1 and made[0].case_id == case_id and set(made[0].payload["stills"].values()) == originals
    )
    assert (made[0].actor, made[0].payload["requested_by"]) == ("system:sweeper", "user:op1")
    page = client.get(f"/cases/{case_id}").text
    assert 'id="public-pending"' in page and 'id="public-approve-form"' in page
    assert (
        client.get(f"/cases/{case_id}/shop-files/{stills[0].sha256}").headers["content-type"] == "image/jpeg"
    )
    # not approved yet: the shop sees that the evidence is being prepared, and cannot fetch a still
    shop = client.get(f"/s/{token}").text
    assert "证据正在准备中" in shop and stills[0].sha256 not in shop
    assert client.get(f"/s/{token}/img/{stills[0].sha256}").status_code == 404
    r = post_form(client, f"/cases/{case_id}/public-copy/approve", page=f"/cases/{case_id}")
    assert r.status_code == 303
    assert [e.actor for e in entries(w, "public_copy_approved")] == ["user:op1"]
    shop = client.get(f"/s/{token}").text
    assert "证据正在准备中" not in shop and all(f"/s/{token}/img/{x.sha256}" in shop for x in stills)
    img = client.get(f"/s/{token}/img/{stills[0].sha256}")
    assert img.status_code == 200 and img.content.startswith(b"\xff\xd8\xff")
    # nothing to approve twice: the page says so
    r = post_form(client, f"/cases/{case_id}/public-copy/approve", page=f"/cases/{case_id}")
    assert (
        r.status_code == 409
        and "公开副本操作未执行" in r.text
        and "no public copy waiting for approval" in r.text
    )


def test_the_sweeper_makes_a_new_notices_public_copy_once_and_records_a_failure(world: Client) -> None:
    w, _ = world
    prior = notice(w)
    with w.session() as s:  # 'ad' (shop S-0002) confirmed and noticed, one of its files lost from the store
        review_case(
            s, principal=SUPERVISOR, case_id=w.cases["ad"], data=ReviewIn(decision="confirm"),
            legal=w.state.legal, store=w.state.store,
        )  # fmt: skip
    ad = notice(w, "ad")
    with w.session() as s:
        event = s.execute(select(HitEventRow.id).where(HitEventRow.case_id == ad)).scalars().first()
        lost = (
            s.execute(
                select(EvidenceFile.sha256).where(
                    EvidenceFile.event_id == event, EvidenceFile.role != "manifest"
                )
            )
            .scalars()
            .first()
        )
    assert lost is not None
    w.state.store.delete(lost)
    with w.session() as s:
        done = make_due_public_copies(s, store=w.state.store)
    assert [c for c, _ in done] == [prior, ad] and done[0][1] == "made" and lost in done[1][1]
    with w.session() as s:
        assert make_due_public_copies(s, store=w.state.store) == []  # made once; a failure not retried
        stills = list(s.execute(select(PublicStill)).scalars())
    assert stills and {x.case_id for x in stills} == {prior} and all(x.approved_at is None for x in stills)
    assert [e.actor for e in entries(w, "public_copy_made")] == ["system:sweeper"]
    failed = entries(w, "public_copy_failed")
    assert len(failed) == 1 and failed[0].case_id == ad and lost in failed[0].payload["why"]


def test_a_requested_copy_that_fails_shows_why_and_the_click_asks_again(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    with w.session() as s:  # one of the package's files lost from the store: publishing fails
        lost = (
            s.execute(
                select(EvidenceFile.sha256)
                .join(HitEventRow, HitEventRow.id == EvidenceFile.event_id)
                .where(HitEventRow.case_id == case_id, EvidenceFile.role != "manifest")
            )
            .scalars()
            .first()
        )
    assert lost is not None
    w.state.store.delete(lost)
    sign_in(client)
    assert post_form(client, f"/cases/{case_id}/public-copy", page=f"/cases/{case_id}").status_code == 303
    with w.session() as s:
        [(done_case, why)] = run_jobs(s, store=w.state.store)
    assert done_case == case_id and lost in why and "\n" not in why
    page = client.get(f"/cases/{case_id}").text
    assert 'data-state="failed"' in page and "公开副本生成失败" in page and lost in page
    failed = entries(w, "public_copy_failed")
    assert [(e.case_id, e.payload["requested_by"]) for e in failed] == [(case_id, "user:op1")]
    with w.session() as s:
        assert run_jobs(s, store=w.state.store) == []  # not retried by the sweeper
    assert 'id="public-make-form"' in page  # the operator asks again
    assert post_form(client, f"/cases/{case_id}/public-copy", page=f"/cases/{case_id}").status_code == 303
    assert 'data-state="pending"' in client.get(f"/cases/{case_id}").text


def test_public_copies_are_for_confirmed_cases_only(world: Client) -> None:
    w, client = world
    sign_in(client)
    draft = w.cases["newest"]
    assert 'id="public-make-form"' not in client.get(f"/cases/{draft}").text
    r = post_form(client, f"/cases/{draft}/public-copy", page=f"/cases/{draft}")
    assert r.status_code == 409 and "公开副本操作未执行" in r.text and "confirmed cases only" in r.text
    assert post_form(client, "/cases/999999/public-copy", page="/").status_code == 404
    assert entries(w, "public_copy_made") == [] and entries(w, "public_copy_requested") == []


def test_qr_codes_on_the_shops_page_and_a_new_link(world: Client, password_hash: str) -> None:
    w, client = world
    notice(w)
    sign_in(client)
    html = client.get("/shops").text
    row = html.split('<tr data-shop="S-0001">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/shops/S-0001/qr.svg"' in row and 'href="/shops/S-0001/qr.pdf"' in row
    assert "rotate-form" not in row  # an operator prints, a supervisor rotates
    svg = client.get("/shops/S-0001/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b'width="105mm" height="148mm"' in svg.content and "老王水果店".encode() in svg.content
    url = re.search(rb"http://testserver/s/([A-Za-z0-9_-]{43})", svg.content)
    assert url is not None
    token = url.group(1).decode()
    assert token == link(w)  # printed again: the same link
    pdf = client.get("/shops/S-0001/qr.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert client.get("/shops/NOPE/qr.svg").status_code == 404
    as_user(w, client, "sup1", "supervisor", password_hash)
    assert "rotate-form" in client.get("/shops").text
    r = post_form(client, "/shops/S-0001/rotate", page="/shops")
    assert r.status_code == 303 and r.headers["location"] == "/shops?rotated=S-0001"
    assert "店铺 S-0001 的链接已更换" in client.get("/shops?rotated=S-0001").text
    assert client.get(f"/s/{token}").status_code == 404
    assert link(w) != token and client.get(f"/s/{link(w)}").status_code == 200


def test_the_export_holds_the_shops_statement_and_photos_and_verifies(
    world: Client, password_hash: str, tmp_path: Path
) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    photo = jpeg(640, 480, seed=11)
    assert upload(client, token, case_id, photo, "image/jpeg").status_code == 303
    assert state_statement(client, token, case_id, "已于当日整改完毕，货物已搬回店内。").status_code == 303
    as_user(w, client, "sup1", "supervisor", password_hash)
    r = post_form(client, f"/cases/{case_id}/export", page=f"/cases/{case_id}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    path = tmp_path / "case.zip"
    path.write_bytes(r.content)
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    shop_files = [n for n in zf.namelist() if n.startswith("shop/")]
    assert "shop/responses.json" in shop_files and len(shop_files) == 2
    photo_name = next(n for n in shop_files if n.endswith(".jpg"))
    assert zf.read(photo_name) == photo
    assert "已于当日整改完毕" in zf.read("shop/responses.json").decode("utf-8")
    ledger_json = zf.read("ledger.json").decode("utf-8")
    assert '"shop_responded"' in ledger_json and '"correction_uploaded"' in ledger_json
    report = verify_export(path)
    assert report.problems == [], report.problems
    members = entries(w, "case_exported")[-1].payload["members"]
    assert photo_name in members and "shop/responses.json" in members
    # altered after export: the verifier names the member
    for name, data in ((photo_name, jpeg(640, 480, seed=12)), ("shop/responses.json", b"[]")):
        bad = tmp_path / f"bad-{len(data)}.zip"
        with zipfile.ZipFile(bad, "w") as out:
            for member in zf.namelist():
                out.writestr(member, data if member == name else zf.read(member))
        problems = verify_export(bad).problems
        assert any(name in p and "differs from the SHA-256" in p for p in problems), problems
