"""NCE: non-contact enforcement video analytics.

The distribution holds five packages:

- ``nce``: the ``nce`` command, the version and the contracts both sides import (the evidence
  manifest, above all) — nothing here imports numpy, OpenCV, FastAPI or SQLAlchemy.
- ``detector``: the edge box (config, sources, model, tracking, rules, evidence, outbox, pipeline).
- ``modeling``: the model toolchain beside the box (synthetic data, training, evaluation); it
  imports ``detector``, never the other way round.
- ``service``: the center (FastAPI app, database, evidence store, cases, ledger, console).
- ``demo``: ``nce demo``, which drives all of them through the real commands.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
