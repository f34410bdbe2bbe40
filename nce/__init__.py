"""NCE: non-contact enforcement video analytics.

The distribution holds three packages:

- ``nce``: the ``nce`` command, the version and the contracts both sides import (the evidence
  manifest, above all) — nothing here imports numpy, OpenCV, FastAPI or SQLAlchemy.
- ``detector``: the edge side (config, sources, model, tracking, rules, evidence, outbox, pipeline).
- ``service``: the center (FastAPI app, database, evidence store, cases, ledger, console).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
