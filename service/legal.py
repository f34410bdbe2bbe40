"""The legal-basis table (``configs/legal_basis.yaml``): violation → regulation, article, penalty."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nce.vocabulary import VIOLATIONS, Violation
from service.errors import ServiceError


class LegalBasisError(ServiceError):
    """The legal-basis file does not load."""


class Penalty(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_yuan: int = Field(ge=0)
    max_yuan: int = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Penalty:
        if self.max_yuan < self.min_yuan:
            raise ValueError(f"max_yuan {self.max_yuan} is below min_yuan {self.min_yuan}")
        return self


class LegalBasis(BaseModel):
    """One row of the table, as shown on a case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regulation: str
    article: str | None = None
    penalty: Penalty | None = None
    penalty_text: str | None = None  # the penalty as the article words it (older records lack it)
    note: str | None = None
    source: str
    verified: bool


class LegalBasisTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: str
    bases: dict[Violation, LegalBasis]

    def for_violation(self, violation: str) -> LegalBasis | None:
        return self.bases.get(violation) if violation in VIOLATIONS else None


def load_legal_basis(path: Path) -> LegalBasisTable:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LegalBasisError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise LegalBasisError(f"{path}: not YAML: {exc}") from exc
    try:
        return LegalBasisTable.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise LegalBasisError(f"{path}: {problems}") from exc
