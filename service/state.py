"""What one running app holds: settings, engine, sessions, evidence store, legal table, metrics,
the hash gate, and the transparency log (its signing key and tree)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.evidence_store import EvidenceStore
from service.fleet_alerts import FleetAlerts
from service.hash_gate import HashGate
from service.legal import LegalBasisTable
from service.metrics import Metrics
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
    alerts: FleetAlerts = field(default_factory=lambda: FleetAlerts(None))  # the app's, see create_app
