"""The case service's tests: every one against SQLite and the real PostgreSQL."""
