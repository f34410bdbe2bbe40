"""The edge outbox and relay: durable queue, ordering, backoff, poison, status."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from detector.delivery.outbox import Outbox, OutboxError
from detector.delivery.relay import Relay
from detector.delivery.transport import Outcome, classify, parse_retry_after
from nce.backoff import Backoff


def add_events(box: Outbox, n: int) -> list[int]:
    return [
        box.add(device_id="edge-1", kind="event", hit_id=f"h{i}", event="opened", payload={"i": i})
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "delay"),
    [
        (200, None, "delivered", None),
        (201, None, "delivered", None),
        (400, None, "poisoned", None),
        (401, None, "poisoned", None),
        (413, None, "poisoned", None),
        (422, None, "poisoned", None),
        (408, None, "retry", None),
        (409, None, "retry", None),
        (429, "7", "retry", 7.0),
        (500, None, "retry", None),
        (503, "2", "retry", 2.0),
    ],
)
def test_classify(status: int, retry_after: str | None, kind: str, delay: float | None) -> None:
    out = classify(status, '{"detail": "why"}', retry_after, time.time())
    assert out.kind == kind
    assert out.retry_after_s == delay
    if kind == "poisoned":
        assert "why" in out.detail


def test_retry_after_http_date() -> None:
    now = 1_000_000.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 0.0) == pytest.approx(10.0)
    assert parse_retry_after("garbage", now) is None
    assert parse_retry_after(None, now) is None


def test_the_relay_waits_its_backoff_after_each_failure(tmp_path: Path) -> None:
    """The first failure waits ``base_s`` (failure number attempts + 1), the next twice that."""
    box = Outbox(tmp_path / "outbox.sqlite")
    add_events(box, 1)
    relay = Relay(box, lambda item: Outcome("retry", "down"), backoff=Backoff(base_s=10.0, cap_s=25.0))
    waits = []
    for _ in range(4):
        before = time.time()
        assert relay.step(before + 1e6) is not None  # due again at once
        head = box.head()
        assert head is not None
        waits.append(round(head.next_attempt_at - before))
    assert waits == [10, 20, 25, 25]


def test_items_survive_reopen_and_keep_order(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db)
    seqs = add_events(box, 3)
    box.close()
    again = Outbox(db)
    assert [i.seq for i in again.items("pending")] == seqs
    head = again.head()
    assert again.epoch == box.epoch and len(box.epoch) == 8
    assert head is not None and head.idempotency_key == f"edge-1:{box.epoch}:{seqs[0]}"


def test_a_recreated_outbox_never_reuses_an_idempotency_key(tmp_path: Path) -> None:
    # the edge's disk was replaced: numbering starts at 1 again, but the service already holds
    # "edge-1:<old epoch>:1" for another payload; the new outbox's keys must not collide with it
    first = Outbox(tmp_path / "a.sqlite")
    add_events(first, 2)
    lost = first.head()
    first.close()
    (tmp_path / "a.sqlite").unlink()
    second = Outbox(tmp_path / "a.sqlite")
    add_events(second, 1)
    fresh = second.head()
    assert lost is not None and fresh is not None
    assert lost.seq == fresh.seq == 1
    assert lost.idempotency_key != fresh.idempotency_key


def test_an_outbox_from_before_epochs_keeps_its_keys(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, "
        "kind TEXT NOT NULL, hit_id TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, "
        "package_dir TEXT, created_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
        "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, last_error TEXT, "
        "delivered_at REAL, response TEXT);"
        "INSERT INTO outbox (device_id, kind, hit_id, event, payload, created_at) "
        "VALUES ('edge-1', 'event', 'h0', 'opened', '{}', 0);"
    )
    conn.commit()
    conn.close()
    box = Outbox(db)
    head = box.head()
    assert box.epoch == "" and head is not None and head.idempotency_key == "edge-1:1"
    box.close()
    assert Outbox(db).epoch == ""  # and it stays so


def test_relay_delivers_in_order_and_poison_does_not_block(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    seqs = add_events(box, 4)
    sent: list[int] = []

    def send(item):  # type: ignore[no-untyped-def]
        sent.append(item.seq)
        if item.payload["i"] == 1:
            return Outcome("poisoned", "HTTP 422: hash mismatch for still_1.jpg")
        return Outcome("delivered", "HTTP 201")

    poisoned: list[str] = []
    relay = Relay(box, send, on_poisoned=lambda item, why: poisoned.append(why))
    assert relay.drain(5.0)
    assert sent == seqs
    st = box.status()
    assert (st.pending, st.delivered, st.poisoned) == (0, 3, 1)
    assert poisoned == ["HTTP 422: hash mismatch for still_1.jpg"]
    assert box.items("poisoned")[0].last_error == "HTTP 422: hash mismatch for still_1.jpg"
    assert box.retry_poisoned() == 1
    assert box.status().pending == 1


def test_relay_retries_head_before_anything_behind_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    add_events(box, 2)
    answers = iter(
        [Outcome("retry", "ConnectError", None), Outcome("delivered", "201"), Outcome("delivered", "201")]
    )
    sent: list[int] = []

    def send(item):  # type: ignore[no-untyped-def]
        sent.append(item.payload["i"])
        return next(answers)

    relay = Relay(box, send, backoff=Backoff(base_s=0.01, cap_s=0.05))
    assert relay.drain(5.0)
    assert sent == [0, 0, 1]
    assert box.items("delivered")[0].attempts == 1


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    add_events(box, 1)
    relay = Relay(box, lambda item: Outcome("retry", "HTTP 429", 120.0))
    relay.step()
    head = box.head()
    assert head is not None and head.next_attempt_at >= time.time() + 100
    assert relay.step() is None  # not due yet


def test_unreadable_package_is_poisoned(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add(
        device_id="d",
        kind="package",
        hit_id="h",
        event="confirmed",
        payload={},
        package_dir=tmp_path / "gone",
    )

    def send(item):  # type: ignore[no-untyped-def]
        return Outcome("delivered", str((item.package_dir / "manifest.json").read_bytes()))

    Relay(box, send).step()
    assert box.status().poisoned == 1


def test_status_and_bad_path(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert box.status().oldest_pending_s is None
    add_events(box, 2)
    st = box.status(now=time.time() + 10)
    assert st.pending == 2 and st.oldest_pending_s is not None and st.oldest_pending_s >= 9.5
    with pytest.raises(OutboxError, match="package directory"):
        box.add(device_id="d", kind="package", hit_id="h", event="confirmed", payload={})
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(tmp_path / "dir.sqlite")


def _config_with_outbox(tmp_path: Path) -> tuple[Path, Path]:
    import yaml

    root = Path(__file__).resolve().parents[1]
    data = yaml.safe_load((root / "configs" / "site.example.yaml").read_text(encoding="utf-8"))
    db = tmp_path / "edge.sqlite"
    data["uplink"]["outbox_file"] = str(db)
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return cfg, db


def test_cli_status_json_and_retry(tmp_path: Path) -> None:
    import json

    from tests.support.cli import nce

    cfg, db = _config_with_outbox(tmp_path)
    box = Outbox(db)
    add_events(box, 3)
    box.mark_delivered(1)
    box.mark_poisoned(2, reason="HTTP 422: bad")
    box.close()

    res = nce("outbox", "status", "--config", str(cfg), "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == {"pending", "delivered", "poisoned", "oldest_pending_s", "poisoned_items"}
    assert (doc["pending"], doc["delivered"], doc["poisoned"]) == (1, 1, 1)
    assert [(p["seq"], p["reason"], p["answer"]) for p in doc["poisoned_items"]] == [
        (2, "HTTP 422: bad", None)
    ]
    assert isinstance(doc["oldest_pending_s"], float)
    res = nce("outbox", "status", "--config", str(cfg))
    assert "HTTP 422: bad" in res.stdout
    res = nce("outbox", "retry-poisoned", "--config", str(cfg))
    assert res.returncode == 0 and "1 poisoned item(s)" in res.stdout
    assert Outbox(db).status().pending == 2


@pytest.mark.parametrize("action", [("status",), ("status", "--json"), ("retry-poisoned",), ("deliver",)])
def test_cli_without_an_outbox_says_so_and_creates_none(tmp_path: Path, action: tuple[str, ...]) -> None:
    """From the wrong folder or with the wrong config: "no outbox at PATH", exit 2, no empty outbox."""
    from tests.support.cli import nce

    cfg, db = _config_with_outbox(tmp_path)
    res = nce("outbox", *action[:1], "--config", str(cfg), *action[1:], cwd=tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.strip() == (
        f"nce outbox: error: no outbox at {db} (uplink.outbox_file, relative to {cfg}'s folder): nothing "
        "was queued there yet; is this the config `nce run` used?"
    )
    assert not db.exists()
