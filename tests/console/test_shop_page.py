"""The shop page (一店一码, ``/s/<token>``) through the real app: what a shop sees when it scans its
QR code, the correction photos and statements it sends (and every bad one refused with a clear
message, nothing stored), CSRF, wrong and rotated links (404 alike), and what operators see."""

from __future__ import annotations

import secrets
import zlib

import pytest
from sqlalchemy import select

from service.evidence_gc import collect
from service.models import LedgerEntry, Shop
from service.models_shop_page import ShopResponse
from service.shop_links import derive_token, rotate_link
from tests.support.console import SECRET, Client, World, sign_in
from tests.support.images import jpeg, png
from tests.support.shop_page import link, notice, page_csrf, state_statement, upload


def entries(w: World, action: str) -> list[LedgerEntry]:
    with w.session() as s:
        return list(s.execute(select(LedgerEntry).where(LedgerEntry.action == action)).scalars())


def responses(w: World) -> list[ShopResponse]:
    with w.session() as s:
        return list(s.execute(select(ShopResponse).order_by(ShopResponse.id)).scalars())


def test_the_page_shows_open_notices_with_basis_deadline_and_preparing_evidence(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    client.cookies.clear()
    r = client.get(f"/s/{token}")
    assert r.status_code == 200
    html = r.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "老王水果店" in html and f'id="case-{case_id}"' in html and "整改期限" in html
    assert "未核实" in html and "城市市容和环境卫生管理条例" in html and "第十四条" in html
    assert "证据正在准备中" in html  # no approved public copy yet: no stills shown
    assert "/img/" not in html
    # only notices: the shop's draft ('newest') and the other shop's case are not there
    assert f'id="case-{w.cases["newest"]}"' not in html and f'id="case-{w.cases["ad"]}"' not in html
    assert (
        r.headers["referrer-policy"] == "same-origin"
        and "script-src 'self'" in r.headers["content-security-policy"]
    )
    assert "<script" not in html


def test_wrong_unknown_and_rotated_links_are_the_same_404(world: Client) -> None:
    w, client = world
    notice(w)
    token = link(w)
    unknown = client.get(f"/s/{secrets.token_urlsafe(32)}")
    assert unknown.status_code == 404 and "此链接无效或已更换" in unknown.text
    bad = [
        "x",  # malformed
        "A" * 300,  # far too long: the same page, not a validation error
        "令牌" * 20,
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character off
        derive_token("another-secret-0123456789", "S-0001", 1),  # right shop, wrong key
        derive_token(SECRET, "S-0001", 2),  # the next generation, not issued yet
        derive_token(SECRET, "S-0002", 1),  # a shop whose link was never made
    ]
    for t in bad:
        r = client.get(f"/s/{t}")
        assert (r.status_code, r.text) == (404, unknown.text), t
    assert client.get(f"/s/{token}").status_code == 200
    sign_in(client)  # an operator may not rotate (supervisors and admins: test_shop_page_console.py)
    r = client.post("/shops/S-0001/rotate", data={"csrf": page_csrf(client, token)}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get(f"/s/{token}").status_code == 200
    with w.session() as s:
        shop = s.get(Shop, "S-0001")
        assert shop is not None
        new = rotate_link(s, SECRET, shop, actor="user:supervisor1")
        s.commit()
    assert new != token
    old = client.get(f"/s/{token}")
    assert (old.status_code, old.text) == (404, unknown.text)
    assert client.get(f"/s/{token}/img/{'0' * 64}").status_code == 404
    assert client.get(f"/s/{new}").status_code == 200
    assert [e.payload["generation"] for e in entries(w, "shop_link_rotated")] == [2]


def test_a_correction_photo_and_a_statement_land_on_the_case(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    client.cookies.clear()
    stored = w.state.store.count()
    r = upload(client, token, case_id, jpeg(800, 600, seed=3), "image/jpeg")
    assert r.status_code == 303 and r.headers["location"] == f"/s/{token}?done=photo#case-{case_id}"
    r = upload(client, token, case_id, png(320, 240, seed=4), "image/png", name="p.png")
    assert r.status_code == 303
    r = state_statement(client, token, case_id, "货物已搬回店内。\n请核实。<script>alert(1)</script>")
    assert r.status_code == 303
    assert w.state.store.count() == stored + 2
    rows = responses(w)
    assert [(x.kind, x.mime, x.width) for x in rows] == [
        ("photo", "image/jpeg", 800), ("photo", "image/png", 320), ("statement", None, None),
    ]  # fmt: skip
    up, said = entries(w, "correction_uploaded"), entries(w, "shop_responded")
    assert len(up) == 2 and up[0].actor == "shop:S-0001" and up[0].case_id == case_id
    assert up[0].payload["sha256"] == rows[0].sha256 and up[0].payload["width"] == 800
    assert len(said) == 1 and said[0].payload["statement"].startswith("货物已搬回店内。")
    page = client.get(f"/s/{token}?done=statement").text
    assert "陈述申辩已提交" in page and "&lt;script&gt;" in page and "<script>alert" not in page
    img = client.get(f"/s/{token}/img/{rows[0].sha256}")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.headers["x-content-type-options"] == "nosniff"
    # the operator sees both on the case page, and the ledger names them
    sign_in(client)
    case_page = client.get(f"/cases/{case_id}").text
    side = case_page.split('id="shop-side"', 1)[1].split("</section>", 1)[0]
    assert side.count('data-kind="photo"') == 2 and "货物已搬回店内。" in side
    assert 'data-action="correction_uploaded"' in case_page and 'data-action="shop_responded"' in case_page
    said_row = case_page.split('data-action="shop_responded"', 1)[1].split("</tr>", 1)[0]
    assert "当事人陈述申辩" in said_row and "陈述申辩：货物已搬回店内。" in said_row
    assert client.get(f"/cases/{case_id}/shop-files/{rows[1].sha256}").headers["content-type"] == "image/png"
    # garbage collection keeps what a shop sent (its rows name the photos), even with no grace period
    with w.session() as s:
        collect(w.state.store, s, older_than_hours=0)
    assert w.state.store.exists(rows[0].sha256) and w.state.store.exists(rows[1].sha256)


def _polyglot() -> bytes:
    zipped = b"PK\x03\x04" + zlib.compress(b"<html><script>alert(1)</script></html>")
    return jpeg(320, 240, seed=5) + zipped


def _truncated() -> bytes:
    data = jpeg(320, 240, seed=6)
    return data[:20]


BAD_UPLOADS = [
    ("zero bytes", b"", "image/jpeg", 422, "空文件"),
    ("a GIF", b"GIF89a" + b"\x00" * 200, "image/gif", 415, "只接受 JPEG 或 PNG"),
    (
        "HTML called a JPEG",
        b"<html><script>alert(1)</script></html>",
        "image/jpeg",
        415,
        "只接受 JPEG 或 PNG",
    ),
    ("a PNG declared as JPEG", png(320, 240, seed=7), "image/jpeg", 415, "文件类型与内容不符"),
    ("a JPEG with a ZIP appended (polyglot)", _polyglot(), "image/jpeg", 422, "附带了其他数据"),
    ("a truncated JPEG", _truncated(), "image/jpeg", 422, "已损坏"),
    ("a 40x30 thumbnail", jpeg(40, 30, seed=8), "image/jpeg", 422, "照片太小"),
    (
        "one byte over the limit",
        b"\xff\xd8\xff" + b"\x00" * (8 * 1024 * 1024 - 2),
        "image/jpeg",
        413,
        "超过 8 MB",
    ),
]


@pytest.mark.parametrize(
    ("what", "data", "mime", "status", "message"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS]
)
def test_bad_uploads_are_refused_with_a_clear_message_and_nothing_stored(
    world: Client, what: str, data: bytes, mime: str, status: int, message: str
) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    stored, seq = w.state.store.count(), len(entries(w, "correction_uploaded"))
    r = upload(client, token, case_id, data, mime)
    assert r.status_code == status, (what, r.text[:300])
    assert message in r.text and 'id="shop-error"' in r.text and "未保存" in r.text, what
    assert (
        w.state.store.count() == stored
        and responses(w) == []
        and len(entries(w, "correction_uploaded")) == seq
    )
    assert list(w.state.store.tmp.iterdir()) == []  # nothing staged left behind


def test_statements_are_checked_and_capped(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    r = state_statement(client, token, case_id, "长" * 2001)
    assert r.status_code == 422 and "陈述申辩超过 2000 字" in r.text and "长" * 2001 in r.text  # kept to edit
    assert state_statement(client, token, case_id, "   ").status_code == 422
    assert state_statement(client, token, case_id, "a\x07b").status_code == 422
    assert responses(w) == []
    for i in range(5):
        assert state_statement(client, token, case_id, f"第 {i + 1} 次陈述").status_code == 303
    r = state_statement(client, token, case_id, "第 6 次")
    assert r.status_code == 422 and "已达上限" in r.text
    assert len(responses(w)) == 5 and len(entries(w, "shop_responded")) == 5


def test_photos_are_capped_per_case(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    for i in range(10):
        assert upload(client, token, case_id, jpeg(160, 120, seed=20 + i), "image/jpeg").status_code == 303
    r = upload(client, token, case_id, jpeg(160, 120, seed=99), "image/jpeg")
    assert r.status_code == 422 and "已达上限" in r.text and len(responses(w)) == 10


def test_form_posts_need_the_pages_csrf_token(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    page_csrf(client, token)  # the cookie is set, the field left out or forged
    for data in ({}, {"csrf": "forged"}):
        r = client.post(
            f"/s/{token}/cases/{case_id}/statement", data={**data, "text": "x"}, follow_redirects=False
        )
        assert r.status_code == 403, data
        r = client.post(
            f"/s/{token}/cases/{case_id}/photo", data=data, files={"photo": ("p.jpg", jpeg(160, 120), "image/jpeg")},
            follow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 403, data
    # from another site (the browser's Origin), even with the right token
    r = client.post(
        f"/s/{token}/cases/{case_id}/statement", data={"csrf": page_csrf(client, token), "text": "x"},
        headers={"Origin": "https://evil.example"}, follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 403
    assert responses(w) == []


def test_only_the_shops_open_notices_take_responses(world: Client) -> None:
    w, client = world
    notice(w)
    token = link(w)
    other = link(w, "S-0002")
    csrf = page_csrf(client, token)  # the token of the cookie, good for any shop page of this browser
    cases = (
        (token, w.cases["newest"]),
        (token, w.cases["ad"]),
        (other, w.cases["prior"]),
        (token, 999999),
        (token, "1e3"),
    )
    for t, case_id in cases:  # a draft of the shop, another shop's case, another shop's link, no case
        r = client.post(
            f"/s/{t}/cases/{case_id}/statement", data={"csrf": csrf, "text": "x"}, follow_redirects=False
        )
        assert r.status_code == 404 and "此链接无效或已更换" in r.text, (t == token, case_id)
    assert responses(w) == []


def test_the_same_flow_on_postgresql(pg_world: Client) -> None:
    w, client = pg_world
    case_id = notice(w)
    token = link(w)
    assert upload(client, token, case_id, jpeg(640, 480, seed=1), "image/jpeg").status_code == 303
    assert state_statement(client, token, case_id, "已整改").status_code == 303
    assert upload(client, token, case_id, b"", "image/jpeg").status_code == 422
    assert [x.kind for x in responses(w)] == ["photo", "statement"]
    assert client.get(f"/s/{derive_token(SECRET, 'S-0001', 9)}").status_code == 404


def test_a_body_past_the_photo_limit_is_refused_before_it_is_read(world: Client) -> None:
    w, client = world
    case_id = notice(w)
    token = link(w)
    stored = w.state.store.count()
    r = upload(client, token, case_id, b"\xff\xd8\xff" + b"\x00" * (9 * 1024 * 1024), "image/jpeg")
    assert r.status_code == 413 and "request body is larger than" in r.text
    assert w.state.store.count() == stored and responses(w) == []
