"""The security tests run against the same real services as tests/service/ (SQLite and PostgreSQL,
a fresh database per session, empty tables per test): its fixtures, loaded from there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SERVICE_TESTS = Path(__file__).parent.parent / "service"
sys.path.insert(0, str(_SERVICE_TESTS))

_spec = importlib.util.spec_from_file_location("service_tests_conftest", _SERVICE_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_service_conftest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _service_conftest  # dataclasses look their module up there
_spec.loader.exec_module(_service_conftest)

Api = _service_conftest.Api
make_settings = _service_conftest.make_settings
db_url = _service_conftest.db_url
api = _service_conftest.api
