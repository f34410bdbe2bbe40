"""The dashboard (``/dashboard``): cases per day and violation, review rates per camera, rule and
class, and the latest actions, over the last 7, 14, 30 or 90 days; reviews per operator over the last
7 days (:mod:`service.console.throughput`); for supervisors, score-threshold proposals
(:mod:`service.thresholds`, over the service's ``threshold_days``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from nce.vocabulary import VIOLATIONS
from service import auth
from service.api.deps import SessionDep, StateDep
from service.console import cameras, queries, throughput
from service.console.charts import rate_bars, stacked_days
from service.console.deps import Operator
from service.console.messages import translate, translate_or
from service.console.render import console_tz, render, request_lang
from service.crud import thresholds as threshold_reviews
from service.models import utcnow
from service.schemas.ledger import LedgerEntryPublic
from service.thresholds import ThresholdRules, camera_setting_lines, yaml_lines

router = APIRouter(include_in_schema=False)
DASH_DAYS = (7, 14, 30, 90)


@router.get("/dashboard")
def dashboard(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    lang, _ = request_lang(request)
    try:
        days = int(request.query_params.get("days", "14"))
    except ValueError:
        days = 14
    days = days if days in DASH_DAYS else 14
    s = queries.stats(session, days=days, tz=console_tz(), now=utcnow())

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    def violation_label(v: str) -> str:
        return t(f"violation.{v}") if v in VIOLATIONS else v

    def rule_label(key: str) -> str:
        v, _, zone = key.partition("|")
        zone_label = translate_or(lang, f"zone.{zone}", zone)
        return f"{violation_label(v)} · {zone_label}"

    def class_label(name: str) -> str:
        return translate_or(lang, f"class.{name}", name)

    places = cameras.camera_places(session, [r.key for r in s.per_camera])

    def camera_label(camera_id: str) -> str:
        place = places.get(camera_id)
        return place.name if place is not None and place.name else camera_id

    def reviewed(n: int) -> str:
        return t("dash.reviewed", n=n)

    activity = [LedgerEntryPublic.model_validate(e) for e in queries.recent_activity(session)]

    def duration(seconds: float | None) -> str:
        if seconds is None:
            return "—"
        minutes = seconds / 60
        return (
            t("dash.minutes", n=round(minutes))
            if minutes < 120
            else t("dash.hours", n=round(minutes / 60, 1))
        )

    rules = ThresholdRules.of(state.settings)
    proposals = (
        threshold_reviews.proposals(session, rules, now=utcnow())
        if principal.role in auth.THRESHOLDS_READ
        else None
    )
    return render(
        request,
        state,
        "dashboard.html",
        principal=principal,
        days=days,
        day_choices=DASH_DAYS,
        per_day=stacked_days(s.days, s.per_day, VIOLATIONS, violation_label, t("dash.total")),
        per_camera=rate_bars(s.per_camera, camera_label, reviewed) if s.per_camera else None,
        per_rule=rate_bars(s.per_rule, rule_label, reviewed) if s.per_rule else None,
        per_class=rate_bars(s.per_class, class_label, reviewed) if s.per_class else None,
        activity=activity,
        operators=throughput.per_operator(session, tz=console_tz(), now=utcnow()),
        duration=duration,
        thresholds=proposals,
        thresholds_yaml=yaml_lines(proposals) if proposals else "",
        thresholds_cli=camera_setting_lines(
            proposals, threshold_reviews.camera_devices(session, [p.camera_id for p in proposals])
        )
        if proposals
        else "",
        thresholds_days=rules.days,
    )
