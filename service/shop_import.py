"""``nce admin import-shops``: the shop registry (一店一码) from a file, so that cases have a party.

The file is one of:

- a **site config** (the edge's YAML): its ``shops:`` list, each with ``id``, ``name``, ``code`` and
  optionally ``license_no``, ``address``, ``contact``;
- a **shops YAML**: the same list on its own, or under ``shops:``;
- a **CSV** with a header row: ``shop_id`` (or ``id``), ``name`` and any of the optional columns.

Every row is checked before anything is written: a bad row is one line naming it
(``FILE: shops[2] (S-0003): name: ...`` or ``FILE line 4 (S-0003): ...``) and nothing is imported.
Then the rows go in one transaction, through the registry's own functions (a ``shop_created`` or
``shop_updated`` ledger entry per change): a shop not in the registry is created, one whose fields
differ is updated (only the fields the row has: a column or key left out keeps what the registry
holds; an empty CSV cell clears an optional field), one that matches is left alone. Shops in the
registry but not in the file are kept. Running the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service import ledger
from service.crud.shops import add_shop, change_shop
from service.errors import Invalid
from service.models import Shop
from service.schemas.shops import ShopCreate, ShopUpdate

MAX_SHOPS_FILE_BYTES = 4 << 20
"""The largest file read (4 MiB: tens of thousands of shops)."""

FIELDS = ("shop_id", "name", "code", "license_no", "address", "contact")
OPTIONAL = frozenset(FIELDS[2:])


@dataclass(frozen=True)
class ShopRow:
    """One shop of the file: where it is (for messages), its values, and the fields the row sets."""

    where: str
    data: ShopCreate
    fields: frozenset[str]


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"


class BadRows(Invalid):
    """Rows that cannot be imported; ``lines`` has one line per bad row."""

    def __init__(self, file: str, lines: list[str]) -> None:
        self.lines = lines
        if len(lines) == 1:
            message = f"{lines[0]}; nothing imported"
        else:
            message = f"{file}: {len(lines)} bad rows (the first: {lines[0]}); nothing imported"
        super().__init__(message)


def read_shops(path: Path) -> list[ShopRow]:
    """The file's shops, every row checked; raise :class:`BadRows` (or :class:`Invalid` for the file
    as a whole) without a partial result."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SHOPS_FILE_BYTES:
            raise Invalid(f"{file}: {size} bytes, more than the {MAX_SHOPS_FILE_BYTES} a shops file may have")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise Invalid(f"{file}: no such file") from None
    except OSError as exc:
        raise Invalid(f"{file}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise Invalid(f"{file}: not UTF-8 text ({exc.reason})") from None
    raw = _csv_rows(file, text) if path.suffix.lower() == ".csv" else _yaml_rows(file, text)
    rows: list[ShopRow] = []
    bad: list[str] = []
    seen: dict[str, str] = {}
    for where, values in raw:
        if isinstance(values, str):
            bad.append(f"{where}: {values}")
            continue
        label = f"{where} ({values['shop_id']})" if isinstance(values.get("shop_id"), str) else where
        try:
            data = ShopCreate.model_validate(values)
        except ValidationError as exc:
            bad.append(f"{label}: {_first_error(exc)}")
            continue
        if data.shop_id in seen:
            bad.append(f"{label}: shop {data.shop_id} again (first at {seen[data.shop_id]})")
            continue
        seen[data.shop_id] = where
        rows.append(ShopRow(where, data, frozenset(values)))
    if bad:
        raise BadRows(file, bad)
    if not rows:
        raise Invalid(f"{file}: no shops in the file (a site config's shops: list, or a CSV with rows)")
    return rows


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "row"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = f"unknown field (a shop has {', '.join(FIELDS)})"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{loc}: {msg}{more}"


def _yaml_rows(file: str, text: str) -> list[tuple[str, dict[str, Any] | str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise Invalid(f"{file}: not valid YAML: {where}{getattr(exc, 'problem', None) or exc}") from None
    items = doc.get("shops") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise Invalid(f"{file}: expected a list of shops (a site config's shops:, or a YAML list)")
    out: list[tuple[str, dict[str, Any] | str]] = []
    for i, item in enumerate(items):
        where = f"{file}: shops[{i}]"
        if not isinstance(item, dict):
            out.append((where, f"expected a mapping of {', '.join(FIELDS)}, got {type(item).__name__}"))
            continue
        values = dict(item)
        if "id" in values and "shop_id" not in values:
            values["shop_id"] = values.pop("id")
        out.append((where, values))
    return out


def _csv_rows(file: str, text: str) -> list[tuple[str, dict[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise Invalid(f"{file}: empty CSV (expected a header row: {','.join(FIELDS)})") from None
    header = ["shop_id" if h == "id" else h for h in header]
    if "shop_id" not in header or "name" not in header:
        raise Invalid(f"{file}: the CSV header must name shop_id (or id) and name; it has {','.join(header)}")
    out: list[tuple[str, dict[str, Any] | str]] = []
    for cells in reader:
        where = f"{file} line {reader.line_num}"
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            out.append((where, f"{len(cells)} cell(s), the header has {len(header)}"))
            continue
        values: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=True):
            cell = cell.strip()
            values[name] = None if cell == "" and name in OPTIONAL else cell
        out.append((where, values))
    return out


def import_shops(session: Session, *, rows: list[ShopRow], actor: str) -> ImportSummary:
    """Create or update the rows' shops in one transaction (committed at the end, rolled back on
    any error), each change a ledger entry."""
    summary = ImportSummary()
    try:
        ledger.lock_head(session)
        for row in rows:
            shop = session.get(Shop, row.data.shop_id)
            if shop is None:
                add_shop(session, data=row.data, actor=actor)
                summary.created.append(row.data.shop_id)
                continue
            wanted = row.data.model_dump(include=set(row.fields) - {"shop_id"})
            changes = {k: v for k, v in wanted.items() if getattr(shop, k) != v}
            if not changes:
                summary.unchanged.append(row.data.shop_id)
                continue
            change_shop(session, shop=shop, data=ShopUpdate(**changes), actor=actor)
            summary.updated.append(row.data.shop_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary
