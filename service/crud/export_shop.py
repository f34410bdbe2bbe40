"""What a case export holds of the shop page (一店一码): the shop's statements and correction photos.

``shop/responses.json`` lists every response (ledger seq, time, kind, statement text or the photo's
file, SHA-256, size and pixel size); each photo is ``shop/<seq>-<sha16>.jpg|png``, byte for byte as
uploaded. Both are members of the export's ledger entry like the package files, so
``nce evidence verify`` checks them against the SHA-256 the entry records."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from nce.case_export import SHOP, SHOP_RESPONSES
from service.shop_page_data import responses_of


def shop_members(session: Session, case_id: int) -> tuple[dict[str, str], dict[str, bytes]]:
    """The photos (zip path → SHA-256 in the store) and ``shop/responses.json`` (path → bytes);
    nothing when the shop sent nothing."""
    rows = responses_of(session, case_id)
    if not rows:
        return {}, {}
    files: dict[str, str] = {}
    listed = []
    for r in rows:
        item: dict[str, object] = {
            "ledger_seq": r.ledger_seq, "at": r.created_at.isoformat(), "kind": r.kind, "shop_id": r.shop_id,
        }  # fmt: skip
        if r.kind == "photo" and r.sha256:
            ext = "png" if r.mime == "image/png" else "jpg"
            path = f"{SHOP}/{r.ledger_seq:08d}-{r.sha256[:16]}.{ext}"
            files[path] = r.sha256
            item |= {"file": path, "sha256": r.sha256, "size": r.size, "width": r.width, "height": r.height}
        else:
            item["statement"] = r.text
        listed.append(item)
    doc = json.dumps(listed, ensure_ascii=False, indent=2).encode("utf-8")
    return files, {SHOP_RESPONSES: doc}
