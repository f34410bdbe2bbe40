"""The service's transparency log: every accepted package's manifest hash, appended to an
RFC 9162 Merkle tree (:mod:`nce.merkle`, leaves as :mod:`nce.transparency` defines them), and signed
checkpoints of that tree and of the ledger's head, made with the service's own Ed25519 key.

- :mod:`service.transparency.key` — the service key (a file outside the database) and
  :class:`~service.transparency.key.TransparencyLog`, what a running app holds (key, origin, tree);
- :mod:`service.transparency.log` — append a leaf (in the ingest's transaction), the in-memory tree
  synced from the table, inclusion and consistency proofs;
- :mod:`service.transparency.checkpoints` — make, store and read checkpoints; check a database
  against a checkpoint someone kept (``nce ledger verify --checkpoint``).
"""
