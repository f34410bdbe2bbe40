"""Cookies (Secure outside demo, one module sets them), CSRF tokens bound to the session, and what
the service shows to anyone: no /docs (CDN pages) outside demo, /metrics only for loopback or the
token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .conftest import METRICS_TOKEN, PASSWORD, Browser, Running, running


def _set_cookies(r: httpx.Response) -> dict[str, str]:
    return {raw.split("=", 1)[0]: raw for raw in r.headers.get_list("set-cookie")}


def test_cookies_are_secure_outside_demo(svc: Running) -> None:
    user = svc.add_user()
    api = _set_cookies(svc.login(user, PASSWORD))
    b = Browser(svc.url)
    try:
        page = _set_cookies(b.get("/login"))
        console = _set_cookies(b.sign_in(user))
    finally:
        b.close()
    for name, raw in [("api nce_session", api["nce_session"]), ("nce_csrf", page["nce_csrf"]),
                      ("console nce_session", console["nce_session"])]:  # fmt: skip
        attrs = [a.strip().lower() for a in raw.split(";")]
        assert "secure" in attrs, f"{name}: {raw}"
        assert "httponly" in attrs and "samesite=strict" in attrs, f"{name}: {raw}"


def test_cookies_are_not_secure_in_demo_mode(db_url: str, tmp_path: Path) -> None:
    """Demo mode serves plain HTTP on loopback: a Secure cookie would never come back."""
    with running(db_url, tmp_path / "ev", demo=True) as demo:
        user = demo.add_user()
        raw = _set_cookies(demo.login(user, PASSWORD))["nce_session"]
    assert "secure" not in [a.strip().lower() for a in raw.split(";")]


def test_a_csrf_token_of_another_session_is_refused(svc: Running) -> None:
    user = svc.add_user()
    a, b = Browser(svc.url), Browser(svc.url)
    try:
        assert a.sign_in(user).status_code == 303
        assert b.sign_in(user).status_code == 303
        token_a, token_b = a.csrf("/"), b.csrf("/")
        assert token_a != token_b
        refused = b.post("/logout", data={"csrf": token_a})
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert b.get("/").status_code == 200  # still signed in: nothing happened
        # a's token still works for a, b's own for b
        assert b.post("/logout", data={"csrf": token_b}).status_code == 303
        assert a.post("/logout", data={"csrf": token_a}).status_code == 303
    finally:
        a.close()
        b.close()


def test_a_csrf_token_dies_with_its_session(svc: Running) -> None:
    user = svc.add_user()
    b = Browser(svc.url)
    try:
        b.sign_in(user)
        old = b.csrf("/")
        assert b.post("/logout", data={"csrf": old}).status_code == 303
        b.sign_in(user)
        assert b.post("/logout", data={"csrf": old}).status_code == 403
    finally:
        b.close()


@pytest.mark.parametrize(("path", "status"), [("/docs", 404), ("/redoc", 404), ("/openapi.json", 200)])
def test_no_cdn_pages_outside_demo(svc: Running, path: str, status: int) -> None:
    r = httpx.get(f"{svc.url}{path}")
    assert r.status_code == status
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "fastapi.tiangolo.com"):
        assert cdn not in r.text


# (id, X-Forwarded-For (the client behind the proxy), Authorization, status)
METRICS: list[tuple[str, str | None, str | None, int]] = [
    ("loopback", None, None, 200),
    ("remote-no-token", "198.51.100.9", None, 403),
    ("remote-wrong-token", "198.51.100.9", "Bearer wrong-token-0123456789", 403),
    ("remote-basic-auth", "198.51.100.9", f"Basic {METRICS_TOKEN}", 403),
    ("remote-token", "198.51.100.9", f"Bearer {METRICS_TOKEN}", 200),
]


@pytest.mark.parametrize(("name", "client", "auth", "status"), METRICS, ids=[m[0] for m in METRICS])
def test_metrics_are_not_open_to_the_world(
    svc: Running, name: str, client: str | None, auth: str | None, status: int
) -> None:
    headers = {}
    if client:
        headers["X-Forwarded-For"] = client
    if auth:
        headers["Authorization"] = auth
    r = httpx.get(f"{svc.url}/metrics", headers=headers)
    assert r.status_code == status, r.text
    assert ("nce_logins_total" in r.text) == (status == 200)


def test_metrics_without_open_networks_need_the_token(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path / "ev", metrics_from="", metrics_token=METRICS_TOKEN) as svc:
        assert httpx.get(f"{svc.url}/metrics").status_code == 403
        auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        assert httpx.get(f"{svc.url}/metrics", headers=auth).status_code == 200
