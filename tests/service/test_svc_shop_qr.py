"""``nce admin shop-qr``: a shop page's link (its last line) and QR code, the same link each time
until ``--rotate`` (after which the old one answers 404), SVG / PDF / PNG by ``--out``'s suffix; and
``shop_page_url`` for the notifier. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from nce.cli import main as nce_main
from service.models import Shop
from service.settings import Settings
from service.shop_links import shop_page_url
from tests.support.cli import nce
from tests.support.service_api import TEST_SECRET, Api

BASE = "https://nce.example.gov.cn/city"


@pytest.fixture
def shop(api: Api, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("NCE_SECRET_KEY", TEST_SECRET)  # the service's own: the link is derived from it
    monkeypatch.delenv("NCE_PUBLIC_URL", raising=False)
    with api.session() as s:
        s.add(Shop(shop_id="S-77", name="阿强面馆", code="310113-0077"))
        s.commit()
    return "S-77"


def qr(api: Api, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = nce_main(["admin", "shop-qr", "--db", api.url, "--shop-id", "S-77", "--base-url", BASE, *extra])
    return code, capsys.readouterr().out.strip().splitlines()


def test_the_last_line_is_the_url_the_same_until_rotated(
    api: Api, shop: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = qr(api, capsys)
    assert code == 0 and out[-1].startswith(f"{BASE}/s/") and len(out[-1]) == len(BASE) + 3 + 43
    first = out[-1]
    assert qr(api, capsys)[1][-1] == first  # printed again: the same link
    token = first.rsplit("/", 1)[1]
    assert api.client.get(f"/s/{token}").status_code == 200
    svg, pdf, png = tmp_path / "qr.svg", tmp_path / "qr.pdf", tmp_path / "qr.png"
    for path in (svg, pdf, png):
        code, out = qr(api, capsys, "--out", str(path))
        assert code == 0 and out[-1] == first and str(path) in out[0]
    assert svg.read_bytes().startswith(b"<?xml") and b'width="105mm"' in svg.read_bytes()
    assert "阿强面馆".encode() in svg.read_bytes() and first.encode() in svg.read_bytes()
    assert pdf.read_bytes().startswith(b"%PDF-") and png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    code, out = qr(api, capsys, "--rotate")
    assert code == 0 and out[-1] != first and "old one answers 404" in out[0]
    assert api.client.get(f"/s/{token}").status_code == 404
    assert api.client.get(f"/s/{out[-1].rsplit('/', 1)[1]}").status_code == 200
    assert qr(api, capsys)[1][-1] == out[-1]


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--shop-id", "NOPE", "--base-url", BASE], {}, "shop NOPE is not in the registry"),
        (["--shop-id", "S-77"], {}, "--base-url"),
        (["--shop-id", "S-77", "--base-url", BASE, "--out", "x.gif"], {}, ".svg, .pdf or .png"),
        (["--shop-id", "S-77", "--base-url", BASE], {"NCE_SECRET_KEY": "short"}, "NCE_SECRET_KEY"),
    ],
)
def test_bad_arguments_are_one_line(
    api: Api,
    shop: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    done = nce("admin", "shop-qr", "--db", api.url, *args, cwd=tmp_path)
    assert done.returncode != 0 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_shop_page_url_for_the_notifier(api: Api, shop: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(**{**api.state.settings.model_dump(), "public_url": BASE})
    with api.session() as s:
        row = s.get(Shop, "S-77")
        assert row is not None
        url = shop_page_url(settings, row)
        s.commit()
    assert url is not None and url == qr(api, capsys)[1][-1]
    with api.session() as s:
        row = s.get(Shop, "S-77")
        assert row is not None
        assert shop_page_url(api.state.settings, row) is None  # no public address configured
