"""The shipped legal-basis table (configs/legal_basis.yaml): every violation has a citation in
Chinese (regulation, article, penalty, source document), none refers to a design file, and no row
claims to be checked before the bureau's legal office has signed it off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nce.vocabulary import VIOLATIONS
from service.legal import LegalBasisError, load_legal_basis

TABLE = Path(__file__).resolve().parents[1] / "configs" / "legal_basis.yaml"
CJK = re.compile(r"[\u4e00-\u9fff]")
DESIGN_FILE = re.compile(r"(?i)\b[\w-]+\.(md|rst|txt)\b|design/|DOMAIN|ARCHITECTURE")


def test_every_violation_has_a_full_chinese_citation() -> None:
    table = load_legal_basis(TABLE)
    assert set(table.bases) == set(VIOLATIONS)
    for violation, basis in table.bases.items():
        assert basis.regulation.startswith("《") and CJK.search(basis.regulation), violation
        assert basis.article and re.search(r"第.+条", basis.article), violation
        assert basis.penalty_text and CJK.search(basis.penalty_text), violation
        assert basis.penalty is not None or "罚款" in basis.penalty_text, violation
        assert basis.source and "《" in basis.source, violation  # the document, by its official name


def test_no_entry_refers_to_a_design_file() -> None:
    raw = TABLE.read_text(encoding="utf-8")
    table = load_legal_basis(TABLE)
    for violation, basis in table.bases.items():
        text = " ".join(str(v) for v in basis.model_dump().values())
        assert not DESIGN_FILE.search(text), (violation, DESIGN_FILE.search(text))
    assert "DOMAIN" not in raw and ".md" not in raw


def test_nothing_is_marked_verified_before_sign_off() -> None:
    table = load_legal_basis(TABLE)
    assert all(not b.verified for b in table.bases.values())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("jurisdiction: 上海市\nbases:\n  street_vending: {regulation: x, source: y}\n", "verified"),
        (
            "jurisdiction: 上海市\nbases:\n  jaywalking: {regulation: x, source: y, verified: false}\n",
            "jaywalking",
        ),
        (
            "jurisdiction: 上海市\nbases:\n  street_vending: {regulation: x, source: y, verified: false, "
            "penalty: {min_yuan: 500, max_yuan: 50}}\n",
            "below min_yuan",
        ),
        ("jurisdiction: [\n", "not YAML"),
    ],
)
def test_a_bad_table_is_refused_in_one_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "legal.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(LegalBasisError, match=message) as exc:
        load_legal_basis(path)
    assert "\n" not in str(exc.value).strip() or message == "not YAML"
