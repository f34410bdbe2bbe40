"""The service tests' fixtures (``db_url``: SQLite and PostgreSQL, ``api``: the real app on it), for the
security tests: import them into a test module (``from security.svc_fixtures import api, db_url``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SERVICE = Path(__file__).resolve().parents[1] / "service"
sys.path.insert(0, str(_SERVICE))

_spec = importlib.util.spec_from_file_location("svc_conftest", _SERVICE / "conftest.py")
assert _spec is not None and _spec.loader is not None
svc_conftest = importlib.util.module_from_spec(_spec)
sys.modules["svc_conftest"] = svc_conftest
_spec.loader.exec_module(svc_conftest)

Api = svc_conftest.Api
PASSWORD = svc_conftest.PASSWORD
api = svc_conftest.api
db_url = svc_conftest.db_url

__all__ = ["PASSWORD", "Api", "api", "db_url", "svc_conftest"]
