"""The outbox file's tables and how an outbox file of an earlier version is brought up to date.

:func:`connect` opens the SQLite file (WAL, ``synchronous=FULL``); :func:`create_or_upgrade`, run in
the first transaction, creates the tables, adds the columns later versions brought and returns the
outbox's epoch (drawn once, when the file is created; ``""`` for an outbox from before epochs
existed, whose items keep their old idempotency keys).
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id       TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('event', 'package')),
    hit_id          TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    package_dir     TEXT,
    created_at      REAL    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'poisoned')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    REAL,
    response        TEXT,
    answer_status   INTEGER,
    answer_body     TEXT,
    answer_digest   TEXT,
    answer_repeats  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status, seq);
CREATE INDEX IF NOT EXISTS outbox_package ON outbox (package_dir);
CREATE TABLE IF NOT EXISTS outbox_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered_package (
    package_dir  TEXT PRIMARY KEY,
    delivered_at REAL NOT NULL
);
"""
# columns added after the first release: an older outbox file gets them on open
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("answer_status", "INTEGER"),
    ("answer_body", "TEXT"),
    ("answer_digest", "TEXT"),
    ("answer_repeats", "INTEGER NOT NULL DEFAULT 0"),
)


def connect(path: Path) -> sqlite3.Connection:
    """The outbox file, opened for one connection shared between threads (callers hold a lock)."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def create_or_upgrade(conn: sqlite3.Connection) -> str:
    """Create the tables (idempotent), add missing columns and return the outbox's epoch, drawing
    it on first open. ``conn`` is inside a transaction (``executescript`` would commit it)."""
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('outbox', 'outbox_meta')"
        )
    }
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    for name, decl in ADDED_COLUMNS:
        if name not in columns:
            conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {decl}")
    row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'epoch'").fetchone()
    if row is not None:
        return str(row[0])
    # an outbox from before epochs existed keeps its old keys (items may have been sent)
    epoch = "" if "outbox" in tables else secrets.token_hex(4)
    conn.execute("INSERT INTO outbox_meta (key, value) VALUES ('epoch', ?)", (epoch,))
    return epoch
