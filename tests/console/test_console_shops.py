"""The shops page (店铺, ``/shops``): the registry the cases' parties come from, each shop's open and
total cases, the shops that cases name but the registry lacks, in both languages; people who review
see it, the edge box does not."""

from __future__ import annotations

from sqlalchemy import delete

from service.models import Shop
from tests.support.console import Client, sign_in


def test_the_registry_with_case_counts_in_both_languages(world: Client) -> None:
    _, client = world
    sign_in(client)
    page = client.get("/shops")
    assert page.status_code == 200
    html = page.text
    assert 'id="nav-shops"' in html and "店铺（一店一码）" in html and "nce admin import-shops" in html
    row = html.split('<tr data-shop="S-0001">', 1)[1].split("</tr>", 1)[0]
    # the world: 'prior' (confirmed) and 'newest' (draft) at S-0001, both open
    assert "老王水果店" in row and "310113-0001" in row and "宝山区友谊路 88 号" in row and ">2/2<" in row
    assert 'id="shops-missing"' not in html
    en = client.get("/shops?lang=en").text
    assert "Shops (一店一码)" in en and "Cases (open/all)" in en


def test_shops_that_cases_name_but_the_registry_lacks_are_listed(world: Client) -> None:
    w, client = world
    with w.session() as s:
        s.execute(delete(Shop).where(Shop.shop_id == "S-0002"))
        s.commit()
    sign_in(client)
    html = client.get("/shops").text
    missing = html.split('id="shops-missing"', 1)[1].split("</section>", 1)[0]
    assert '<li data-shop="S-0002">' in missing and "1/1" in missing
    assert "S-0001" not in missing


def test_an_empty_registry_says_how_to_fill_it(world: Client) -> None:
    w, client = world
    with w.session() as s:
        s.execute(delete(Shop))
        s.commit()
    sign_in(client)
    html = client.get("/shops").text
    assert 'id="shops-empty"' in html and "nce admin import-shops" in html


def test_only_people_who_review_see_it(world: Client) -> None:
    w, client = world
    assert client.get("/shops", follow_redirects=False).status_code in (302, 303, 307)  # sign in first
    r = client.get("/shops", headers={"Authorization": f"Bearer {w.device.token}"}, follow_redirects=False)
    assert r.status_code in (302, 303, 307, 401, 403)
