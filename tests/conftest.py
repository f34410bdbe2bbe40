"""Every test: the real-parts rule (a skip under CI=true is a failure, see tests.support.real_parts)
and pytester (to test that rule). Helpers live in :mod:`tests.support`; the repository root is on
``sys.path`` through pyproject's ``pythonpath``."""

pytest_plugins = ["pytester", "tests.support.real_parts"]
