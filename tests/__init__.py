"""NCE's tests: pytest against real parts; shared helpers in :mod:`tests.support`."""
