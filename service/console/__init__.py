"""The operator review console (zh-CN, with English): server-rendered pages at ``/``.

``install(app)`` adds the pages and ``/static`` to an app made by :func:`service.app.create_app`.
"""

from __future__ import annotations

from service.console.routes import install

__all__ = ["install"]
