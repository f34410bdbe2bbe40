"""The rollouts page (模型下发, ``/rollouts``): per device, the model release assigned (all cameras or
canary cameras), the rollout state the device reported (pending, running, rolled back, refused) and
why, and its remote per-camera settings. Read-only: assignments are made with
``nce admin assign-model`` / ``POST /api/v1/rollouts``, settings with ``nce admin camera-settings`` /
``PUT /api/v1/devices/{id}/camera-settings``; each is a ledger entry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.deps import SessionDep, StateDep
from service.console.deps import Operator
from service.console.render import render
from service.crud.rollouts import list_rollouts

router = APIRouter(include_in_schema=False)


@router.get("/rollouts")
def rollouts_page(request: Request, state: StateDep, session: SessionDep, principal: Operator) -> Response:
    rows = list_rollouts(session)
    return render(request, state, "rollouts.html", principal=principal, rows=rows)
