"""The center of NCE: FastAPI case service, database, evidence store, cases, ledger, console."""
