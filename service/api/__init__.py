"""The HTTP API (``/api/v1``): routes per resource, dependencies in :mod:`service.api.deps`."""
