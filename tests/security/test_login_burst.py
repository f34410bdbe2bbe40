"""120 parallel wrong sign-ins: at most ``login_hash_slots`` Argon2id checks run at once, the rest
wait (bounded) or get 503 with Retry-After, and /healthz keeps answering throughout.

Against ``nce serve`` in its own process (the clients' threads share no interpreter with it). The
healthz latencies during the burst are printed (speed is reported, not asserted)."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from service.db import make_engine
from service.migrate import upgrade
from service.models import User

from .conftest import nce_serve, password_hash

BURST = 120
SLOTS = 2


def test_healthz_answers_during_a_burst_of_wrong_sign_ins(db_url: str, tmp_path: Path) -> None:
    env = {
        "NCE_LOGIN_HASH_SLOTS": str(SLOTS),
        "NCE_LOGIN_HASH_QUEUE": "16",
        "NCE_LOGIN_HASH_WAIT_S": "5",
        # high limits: every attempt is a real password check (lockouts are tested elsewhere)
        "NCE_LOGIN_ACCOUNT_FAILURES": "10000",
        "NCE_LOGIN_ADDRESS_FAILURES": "10000",
    }
    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp_path}/nce.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    user = f"burst-{tmp_path.name[-8:]}"
    with Session(engine) as s:
        s.add(User(username=user, role="operator", password_hash=password_hash()))
        s.commit()
    engine.dispose()
    with nce_serve(url, tmp_path / "ev", **env) as svc:
        stop = threading.Event()
        health: list[tuple[int, float]] = []

        def poll() -> None:
            with httpx.Client(base_url=svc.url, timeout=60) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    status = c.get("/healthz").status_code
                    health.append((status, time.perf_counter() - t0))
                    time.sleep(0.05)

        def attempt(i: int) -> httpx.Response:
            return httpx.post(
                f"{svc.url}/api/v1/auth/login",
                json={"username": user, "password": f"wrong {i}"},
                timeout=60,
            )

        poller = threading.Thread(target=poll)
        poller.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(BURST) as pool:
            answers = list(pool.map(attempt, range(BURST)))
        burst_s = time.perf_counter() - t0
        time.sleep(0.2)
        stop.set()
        poller.join()
        metrics = httpx.get(f"{svc.url}/metrics").text

    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {401, 503}, statuses
    assert statuses.count(401) >= SLOTS
    assert all(r.headers.get("retry-after", "").isdigit() for r in answers if r.status_code == 503)
    peak = next(
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("nce_login_hash_peak ")
    )
    assert 1 <= peak <= SLOTS
    assert health and all(status == 200 for status, _ in health)
    latencies = [s for _, s in health]
    print(
        f"\n{db_url.split(':')[0]}: burst of {BURST} wrong sign-ins in {burst_s:.1f} s "
        f"({statuses.count(401)} checked, {statuses.count(503)} refused 503); "
        f"healthz x{len(latencies)} during it: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms; hash peak {peak:g}"
    )
