"""Where the cameras stand, for people: each camera's name, address and position as its latest signed
package carried them (the site config's ``cameras[].name/location``, in the manifest's ``camera``),
and a small plan of a site's cameras drawn as inline SVG from latitude and longitude (no map tiles,
nothing fetched from outside).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Case, HitEventRow

PLAN_W, PLAN_H, PLAN_PAD = 320, 200, 28


@dataclass(frozen=True)
class CameraPlace:
    camera_id: str
    name: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    site_id: str | None = None

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def place_of(camera_id: str, manifest: dict[str, Any]) -> CameraPlace:
    """The camera as a manifest names it; missing or malformed fields are None."""
    camera = _dict(manifest.get("camera"))
    location, site = _dict(camera.get("location")), _dict(manifest.get("site"))
    name, address = camera.get("name"), location.get("address")
    return CameraPlace(
        camera_id=camera_id,
        name=str(name) if isinstance(name, str) and name else None,
        address=str(address) if isinstance(address, str) and address else None,
        lat=_number(location.get("lat")),
        lon=_number(location.get("lon")),
        site_id=str(site["id"]) if isinstance(site.get("id"), str) else None,
    )


def camera_places(
    session: Session, camera_ids: Iterable[str] | None = None, *, site_id: str | None = None
) -> dict[str, CameraPlace]:
    """camera id → where it stands, from the latest signed package of its latest case (all cameras,
    or those of ``camera_ids``, or of the site ``site_id``). Indexed lookups only (cases by camera,
    hits by case): a page view never scans every package. A camera whose packages carry no name or
    place is left out: the page shows its id."""
    latest_case = select(func.max(Case.id))
    if camera_ids is not None:
        ids = sorted(set(camera_ids))
        if not ids:
            return {}
        latest_case = latest_case.where(Case.camera_id.in_(ids))
    if site_id is not None:
        latest_case = latest_case.where(Case.site_id == site_id)
    latest_hit = (
        select(func.max(HitEventRow.id))
        .where(
            HitEventRow.case_id.in_(latest_case.group_by(Case.camera_id)), HitEventRow.manifest.is_not(None)
        )
        .group_by(HitEventRow.case_id)
    )
    rows = session.execute(
        select(HitEventRow.camera_id, HitEventRow.manifest).where(HitEventRow.id.in_(latest_hit))
    ).all()
    places = (place_of(str(cam), m) for cam, m in rows if isinstance(m, dict))
    return {p.camera_id: p for p in places if p.name or p.located}


def plan_svg(here: str, places: Sequence[CameraPlace], title: str) -> Markup | None:
    """A plan of the located cameras (north up, equirectangular), ``here`` marked and named; None when
    ``here`` has no position."""
    located = [p for p in places if p.located]
    me = next((p for p in located if p.camera_id == here), None)
    if me is None:
        return None
    lats = [p.lat for p in located if p.lat is not None]
    mid_lat = math.radians(sum(lats) / len(lats))
    # metres per degree: a plan, not a map; at least 100 m across so that one camera sits in the middle
    xs = {p.camera_id: (p.lon or 0.0) * 111_320 * math.cos(mid_lat) for p in located}
    ys = {p.camera_id: (p.lat or 0.0) * 110_540 for p in located}
    span = max(max(xs.values()) - min(xs.values()), max(ys.values()) - min(ys.values()), 100.0)
    cx, cy = (max(xs.values()) + min(xs.values())) / 2, (max(ys.values()) + min(ys.values())) / 2
    scale = min(PLAN_W, PLAN_H) - 2 * PLAN_PAD
    parts = [
        f'<svg class="plan" id="camera-plan" viewBox="0 0 {PLAN_W} {PLAN_H}" role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{PLAN_W}" height="{PLAN_H}" class="plan-bg"/>',
    ]
    for p in sorted(located, key=lambda q: q.camera_id == here):
        x = PLAN_W / 2 + (xs[p.camera_id] - cx) / span * scale
        y = PLAN_H / 2 - (ys[p.camera_id] - cy) / span * scale
        cls = "plan-here" if p.camera_id == here else "plan-other"
        anchor, tx = ("end", x - 10) if x > PLAN_W * 0.6 else ("start", x + 10)
        label = escape(p.name or p.camera_id)
        parts.append(
            f'<g class="{cls}" data-camera="{escape(p.camera_id)}"><circle cx="{x:.1f}" cy="{y:.1f}" r="'
            f'{7 if p.camera_id == here else 4}"/><text x="{tx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}">{label}</text></g>'
        )
    parts.append(f'<text x="{PLAN_W - 8}" y="16" class="plan-north" text-anchor="end">N ↑</text></svg>')
    return Markup("".join(parts))
