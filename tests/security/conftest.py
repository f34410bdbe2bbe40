"""Fixtures: the service tests' ``api`` (SQLite and the real PostgreSQL, fresh tables per test) and
their factories, shared rather than copied: ``tests/service/conftest.py`` is loaded under another name
and its fixtures are re-exported here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SERVICE_TESTS = Path(__file__).resolve().parent.parent / "service"
sys.path.insert(0, str(SERVICE_TESTS))


def _service_conftest() -> object:
    spec = importlib.util.spec_from_file_location("svc_conftest", SERVICE_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["svc_conftest"] = module
    spec.loader.exec_module(module)
    return module


_svc = _service_conftest()
api = _svc.api  # type: ignore[attr-defined]
db_url = _svc.db_url  # type: ignore[attr-defined]
