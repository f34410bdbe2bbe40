"""``nce admin assign-model --db URL --release ID --devices A,B [--canary-cameras cam-01]``: assign a
stored release to devices (their canary cameras only, when given); ``nce admin camera-settings``: set
one camera's remote settings on a device (``--min-score``, ``--enable`` / ``--disable``,
``--accepted-masks``: the camera's accepted learned masks). Each is a ledger entry, as the API's."""

from __future__ import annotations

import argparse
from typing import Any

from service.errors import Invalid


def _ids(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def register(inner: Any) -> None:
    assign = inner.add_parser(
        "assign-model", help="assign a model release to devices (canary cameras optional)"
    )
    assign.add_argument(
        "--db", default=None, help="database URL (default: the local SQLite, var/nce.sqlite3)"
    )
    assign.add_argument("--release", required=True, help="the release id (nce admin add-model stored it)")
    assign.add_argument("--devices", required=True, type=_ids, help="device ids, comma-separated")
    assign.add_argument(
        "--canary-cameras", type=_ids, default=None, help="only these cameras run it (comma-separated)"
    )
    assign.set_defaults(func=_assign)
    cam = inner.add_parser("camera-settings", help="set a camera's remote settings on a device")
    cam.add_argument("--db", default=None, help="database URL (default: the local SQLite, var/nce.sqlite3)")
    cam.add_argument("--device", required=True, help="the device id")
    cam.add_argument("--camera", required=True, help="the camera id")
    cam.add_argument("--min-score", type=float, default=None, help="drop this camera's detections below it")
    on = cam.add_mutually_exclusive_group()
    on.add_argument("--enable", dest="enabled", action="store_const", const=True, default=None)
    on.add_argument("--disable", dest="enabled", action="store_const", const=False)
    cam.add_argument("--accepted-masks", action="store_true", help="send the camera's accepted learned masks")
    cam.add_argument(
        "--clear",
        action="store_true",
        help="clear the camera's remote settings: the edge goes back to its site config for it",
    )
    cam.set_defaults(func=_camera_settings)


def _assign(args: argparse.Namespace) -> int:
    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.crud.rollouts import assign

    rows = with_session(
        args.db,
        lambda s: [
            (r.device_id, r.version)
            for r in assign(
                s,
                release_id=args.release,
                device_ids=args.devices,
                canary=args.canary_cameras,
                actor=cli_actor(),
            )
        ],
    )
    where = f"canary cameras {', '.join(args.canary_cameras)}" if args.canary_cameras else "all cameras"
    for device_id, version in rows:
        print(f"release {args.release} assigned to {device_id} ({where}; assignment version {version})")
    return 0


def _camera_settings(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from nce.rollout import CameraSettings
    from service.accounts import cli_actor
    from service.cli.admin import with_session
    from service.crud.rollouts import accepted_masks, clear_camera_settings, set_camera_settings

    if args.clear:
        if args.enabled is not None or args.min_score is not None or args.accepted_masks:
            raise Invalid("--clear takes no --enable/--disable, --min-score or --accepted-masks")
        version = with_session(
            args.db,
            lambda s: (
                clear_camera_settings(
                    s, device_id=args.device, camera_id=args.camera, actor=cli_actor()
                ).version
            ),
        )
        print(
            f"camera {args.camera} on {args.device}: settings cleared, site config again (assignment version {version})"
        )
        return 0

    def run(session: Any) -> int:
        masks = accepted_masks(session, args.camera) if args.accepted_masks else None
        try:
            settings = CameraSettings(
                camera_id=args.camera, enabled=args.enabled, min_score=args.min_score, masks=masks
            )
        except ValidationError as exc:
            raise Invalid(f"camera settings: {exc.errors()[0]['msg']}") from None
        row = set_camera_settings(session, device_id=args.device, settings=settings, actor=cli_actor())
        return row.version

    version = with_session(args.db, run)
    print(f"camera {args.camera} on {args.device}: settings set (assignment version {version})")
    return 0
