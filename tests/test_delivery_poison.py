"""An item the service answers with the same 5xx again and again is set aside (on the edge):
``uplink.poison_after_5xx`` identical answers (status + body digest) in a row poison it, with the
answer kept and counted, so the rest of the queue moves; ``nce outbox retry-poisoned`` brings it
back. A service that is away (connection refused, 502/503/504) never poisons anything.

Against a real HTTP server on loopback (:class:`tests.support.delivery.ScriptedService`), through the
real transport, and through ``nce outbox deliver | status | retry-poisoned`` as processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from detector.delivery import Answer, DeliveryMetrics, HttpTransport, Outbox, Outcome, Relay
from detector.errors import DetectorError
from nce.backoff import Backoff
from tests.support.delivery import ScriptedService, SyntheticEdge, edge_config, free_port, make_device, nce

pytestmark = pytest.mark.timeout(120)

FAST = Backoff(base_s=0.01, cap_s=0.02)


@pytest.fixture
def server() -> Iterator[ScriptedService]:
    srv = ScriptedService()
    yield srv
    srv.close()


def add_events(box: Outbox, n: int) -> list[int]:
    return [
        box.add(device_id="edge-p", kind="event", hit_id=f"h{i}", event="opened", payload={"i": i})
        for i in range(n)
    ]


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return float(registry.get_sample_value(name, labels) or 0.0)


# -- through the CLI: nce outbox deliver / status --json / retry-poisoned ------------------------


def test_an_item_answered_500_forever_is_set_aside_and_the_rest_is_delivered(
    tmp_path: Path, server: ScriptedService
) -> None:
    dev = make_device(tmp_path, "edge-p")
    dev.token_file.write_text("a-token\n")
    cfg = edge_config(
        tmp_path, dev, server.url, drain_s=0, poison_after_5xx=3, retry_base_s=0.05, retry_max_s=0.1
    )
    outbox_file = tmp_path / "edge" / "outbox.sqlite"
    synth = SyntheticEdge(dev, tmp_path / "edge", outbox_file)
    synth.hits(3)  # 9 items: opened, package, still_present per hit; seq 5 is package 2
    server.failing = {5}
    done = nce("outbox", "deliver", "--config", str(cfg), "--timeout", "60", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]  # nothing left pending: the item stepped aside
    assert server.requests.count(5) == 3  # asked exactly poison_after_5xx times
    # the items behind it, later packages of the same device included, went on, in order
    assert server.delivered == [1, 2, 3, 4, 6, 7, 8, 9]
    assert done.stderr.count("poisoned:") == 1, done.stderr  # one line in the log

    status = json.loads(nce("outbox", "status", "--config", str(cfg), "--json", cwd=tmp_path).stdout)
    assert (status["pending"], status["delivered"], status["poisoned"]) == (0, 8, 1)
    (item,) = status["poisoned_items"]
    assert (item["seq"], item["kind"], item["package_id"]) == (5, "package", f"{dev.id}-00000002-violation")
    assert item["answer"] == {"status": 500, "body": server.fail_body}
    assert "HTTP 500" in item["reason"] and "3 times in a row" in item["reason"]
    shown = nce("outbox", "status", "--config", str(cfg), cwd=tmp_path).stdout
    assert "poisoned:  1" in shown and "3 times in a row" in shown

    server.failing.clear()  # the service is fixed
    again = nce("outbox", "retry-poisoned", "--config", str(cfg), cwd=tmp_path)
    assert again.returncode == 0 and "1 poisoned item(s) queued again" in again.stdout
    box = Outbox(outbox_file)
    head = box.head()
    box.close()
    assert head is not None and (head.seq, head.answer, head.answer_repeats) == (5, None, 0)  # count reset
    done = nce("outbox", "deliver", "--config", str(cfg), "--timeout", "60", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads(nce("outbox", "status", "--config", str(cfg), "--json", cwd=tmp_path).stdout)
    assert (status["pending"], status["delivered"], status["poisoned"], status["poisoned_items"]) == (
        0,
        9,
        0,
        [],
    )
    assert server.delivered[-1] == 5 and sorted(server.delivered) == list(range(1, 10))


# -- in process: the metric, and the count reset by retry-poisoned ------------------------------


def test_repeated_500_is_counted_in_the_metric_and_retry_poisoned_resets_it(
    tmp_path: Path, server: ScriptedService
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    add_events(box, 4)
    server.failing = {2}
    registry = CollectorRegistry()
    transport = HttpTransport(server.url, "a-token", timeout_s=5)
    relay = Relay(box, transport.send, backoff=FAST, poison_after_5xx=4, metrics=DeliveryMetrics(registry))
    assert relay.drain(30.0)
    (poisoned,) = box.items("poisoned")
    assert poisoned.seq == 2 and poisoned.answer_repeats == 4
    assert poisoned.answer == Answer.of(500, server.fail_body)
    assert server.requests.count(2) == 4 and server.delivered == [1, 3, 4]
    assert sample(registry, "nce_outbox_poisonings_total", reason="repeated_5xx") == 1
    assert sample(registry, "nce_outbox_poisoned") == 1
    assert sample(registry, "nce_outbox_failed_total", outcome="retry") == 3

    assert box.retry_poisoned() == 1
    server.fail_status, server.fail_body = 500, '{"detail": "another bug"}'
    assert relay.drain(30.0)  # four more identical answers: the count started again from zero
    assert server.requests.count(2) == 8
    assert sample(registry, "nce_outbox_poisonings_total", reason="repeated_5xx") == 2
    assert box.retry_poisoned() == 1
    server.failing.clear()
    assert relay.drain(30.0)
    assert box.status().poisoned == 0 and server.delivered == [1, 3, 4, 2]
    relay.metrics.refresh(box)
    assert sample(registry, "nce_outbox_poisoned") == 0
    transport.close()
    box.close()


# -- the service away: nothing is poisoned, however long ---------------------------------------


@pytest.mark.parametrize("away", ["refused", "502", "503", "504"])
def test_a_service_that_is_away_poisons_nothing(tmp_path: Path, server: ScriptedService, away: str) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    add_events(box, 2)
    if away == "refused":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    else:
        url = server.url
        server.failing, server.fail_status = {1, 2}, int(away)
    transport = HttpTransport(url, "a-token", timeout_s=5)
    relay = Relay(box, transport.send, backoff=FAST, poison_after_5xx=2)
    deadline = time.monotonic() + 30
    head = box.head()
    while head is not None and head.attempts < 8 and time.monotonic() < deadline:
        relay.step()
        time.sleep(0.02)
        head = box.head()
    transport.close()
    assert head is not None and head.seq == 1 and head.attempts >= 8  # four times poison_after_5xx
    assert box.status().poisoned == 0
    assert head.answer_repeats == 0
    box.close()


# -- the rule, table-driven (scripted answers) --------------------------------------------------

A500 = Outcome("retry", "HTTP 500: a", answer=Answer.of(500, "a"))
B500 = Outcome("retry", "HTTP 500: b", answer=Answer.of(500, "b"))
A501 = Outcome("retry", "HTTP 501: a", answer=Answer.of(501, "a"))
A507 = Outcome("retry", "HTTP 507: a", answer=Answer.of(507, "a"))
AWAY503 = Outcome("retry", "HTTP 503: busy", answer=Answer.of(503, "busy"))
AWAY502 = Outcome("retry", "HTTP 502: bad gateway", answer=Answer.of(502, "bad gateway"))
REFUSED = Outcome("retry", "ConnectError: refused")
TOKEN = Outcome("retry", "HTTP 401: credentials refused: no")
R429 = Outcome("retry", "HTTP 429: slow down", answer=Answer.of(429, "slow down"))
R409 = Outcome("retry", "HTTP 409: busy", answer=Answer.of(409, "busy"))

RULE: list[tuple[str, list[Outcome], int | None]] = [
    # (case, the answers to one item in turn, N) → poisoned after the last answer when N is reached
    ("three identical 500s", [A500, A500, A500], 3),
    ("N = 1 poisons at the first 500", [A500], 1),
    ("a 507 counts like a 500", [A507, A507], 2),
    ("two 500s are not three", [A500, A500], None),
    ("another body starts again", [A500, A500, B500, B500], None),
    ("another status starts again", [A500, A500, A501, A501], None),
    ("the service away in between does not break the run", [A500, AWAY503, A500, REFUSED, AWAY502, A500], 3),
    ("a refused token in between does not break it", [A500, TOKEN, A500, A500], 3),
    ("a 429 in between breaks it", [A500, A500, R429, A500, A500], None),
    ("a 409 in between breaks it", [A500, R409, A500, A500], None),
    ("503s never count", [AWAY503] * 10, None),
    ("network errors never count", [REFUSED] * 10, None),
]


@pytest.mark.parametrize(("case", "answers", "n"), RULE, ids=[c for c, _, _ in RULE])
def test_when_repeated_answers_poison(
    tmp_path: Path, case: str, answers: list[Outcome], n: int | None
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    add_events(box, 2)
    script = iter(answers)
    sent: list[int] = []

    def send(item):  # type: ignore[no-untyped-def]
        sent.append(item.seq)
        return next(script, Outcome("delivered", "HTTP 201"))

    relay = Relay(box, send, backoff=Backoff(base_s=0.0, cap_s=0.0, jitter=0.0), poison_after_5xx=n or 3)
    for _ in answers:
        relay.step()
    first = box.items()[0]
    if n is None:
        assert first.status == "pending", case
    else:
        assert first.status == "poisoned" and first.answer_repeats == n, case
        assert first.answer is not None and first.answer.status >= 500
        relay.step()  # the next item goes on at once
        assert sent[-1] == 2 and box.items()[1].status == "delivered"
    box.close()


def test_poison_after_5xx_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="poison_after_5xx must be >= 1"):
        Relay(Outbox(tmp_path / "o.sqlite"), lambda item: Outcome("delivered", "201"), poison_after_5xx=0)


def test_an_older_outbox_file_gets_the_answer_columns(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, "
        "kind TEXT NOT NULL, hit_id TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, "
        "package_dir TEXT, created_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
        "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, last_error TEXT, "
        "delivered_at REAL, response TEXT);"
        "CREATE TABLE outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO outbox_meta VALUES ('epoch', 'abcd1234');"
        "INSERT INTO outbox (device_id, kind, hit_id, event, payload, created_at) "
        "VALUES ('edge-1', 'event', 'h0', 'opened', '{}', 0);"
    )
    conn.commit()
    conn.close()
    box = Outbox(db)
    box.mark_retry(1, error="HTTP 500: x", next_attempt_at=0, answer=Answer.of(500, "x"), answer_repeats=1)
    head = box.head()
    assert head is not None and head.answer == Answer.of(500, "x") and head.answer_repeats == 1
    assert head.idempotency_key == "edge-1:abcd1234:1"
    box.close()
