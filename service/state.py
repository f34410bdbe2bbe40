"""What one running app holds: settings, engine, sessions, evidence store, legal table, metrics,
the hash gate, the transparency log (its signing key and tree) and the integrations (SMS gateway,
webhook targets: service.outbox)."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.evidence_store import EvidenceStore
from service.fleet_alerts import FleetAlerts
from service.hash_gate import HashGate
from service.legal import LegalBasisTable
from service.metrics import Metrics
from service.outbox.config import Integrations, default_integrations
from service.settings import Settings
from service.transparency.key import TransparencyLog


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: EvidenceStore
    legal: LegalBasisTable
    metrics: Metrics
    hash_gate: HashGate
    transparency: TransparencyLog
    integrations: Integrations = field(default_factory=default_integrations)  # service.outbox
    alerts: FleetAlerts = field(default_factory=lambda: FleetAlerts(None))  # the app's, see create_app
    # packages being checked, stored and committed at once (settings.ingest_slots; create_app)
    ingest_slots: anyio.Semaphore = field(default_factory=lambda: anyio.Semaphore(2))
