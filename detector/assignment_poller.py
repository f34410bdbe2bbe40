"""The edge's side of a rollout (issue 17): poll the service for this device's assignment, take a
release into the running pipeline, apply remote camera settings, report the rollout state.

Every ``rollout.poll_s`` :class:`AssignmentPoller` (its own thread) sends
``GET /api/v1/devices/me/assignment`` with ``If-None-Match`` (304: nothing to do). On a new assignment:

- settings go to :class:`detector.remote_settings.SettingsInbox` (validated as the site config is;
  refused settings are logged and none of them is taken);
- a release not yet taken (nor rolled back or refused here) is downloaded (``release.json``,
  ``model.onnx``, ``card.md``) under ``<data dir>/releases/<id>/``, checked against the trusted release
  key (:func:`nce.release.verify_release`: the signature, then the files' signed sha256) and against the
  sha256 the assignment names, loaded with the site's model settings and warmed up on a camera's last
  frame (:func:`detector.rollout.load_candidate`), then swapped in between batches — on the canary
  cameras only when the assignment names them. A refusal is reported as ``refused`` with the reason.

The pipeline's rollout events (``running`` after the swap, ``rolled_back`` when the health watch
puts the previous model back) are posted to ``POST /api/v1/devices/me/rollout``.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from detector.errors import DetectorError
from detector.rollout import Swap, load_candidate
from nce.errors import NceError
from nce.release import CARD_FILE, MODEL_FILE, RELEASE_FILE, verify_release
from nce.rollout import Assignment, RolloutReport, RolloutState

if TYPE_CHECKING:
    from detector.pipeline import Pipeline

__all__ = ["AssignmentPoller"]

log = logging.getLogger(__name__)
ASSIGNMENT = "/api/v1/devices/me/assignment"
REPORT = "/api/v1/devices/me/rollout"


class AssignmentPoller:
    """Polls the assignment and feeds the pipeline; :meth:`poll_once` does one round (tests)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        service_url: str,
        token: str,
        pubkey: Ed25519PublicKey,
        folder: Path,
        poll_s: float = 30.0,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.pubkey = pubkey
        self.folder = folder
        self.poll_s = poll_s
        self.client = httpx.Client(
            base_url=service_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "nce-edge"},
            transport=transport,
        )
        self.etag: str | None = None
        self.taken: tuple[str, tuple[str, ...] | None] | None = None  # release, canary cameras
        # releases refused or rolled back here, kept across restarts (a bad model is not retried)
        self.given_up_file = folder / "given-up.json"
        self.given_up: set[str] = self._load_given_up()
        self.reported = 0  # pipeline.models.events already posted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load_given_up(self) -> set[str]:
        try:
            return {str(r) for r in json.loads(self.given_up_file.read_text(encoding="utf-8"))}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, TypeError) as exc:
            log.warning(
                "%s unreadable (%s): releases given up before are not remembered", self.given_up_file, exc
            )
            return set()

    def give_up(self, release: str) -> None:
        self.given_up.add(release)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.given_up_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.given_up)), encoding="utf-8")
        tmp.replace(self.given_up_file)

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="assignment", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("assignment poll failed (retrying in %g s): %s", self.poll_s, exc)
            self._stop.wait(self.poll_s)

    # -- one round ----------------------------------------------------------------------------

    def poll_once(self) -> Assignment | None:
        """Post the pending rollout events, then fetch and apply the assignment (None: unchanged)."""
        self.report_events()
        headers = {"If-None-Match": self.etag} if self.etag else {}
        r = self.client.get(ASSIGNMENT, headers=headers)
        if r.status_code == 304:
            return None
        r.raise_for_status()
        try:
            assignment = Assignment.model_validate_json(r.content)
        except ValidationError as exc:
            log.error("the service sent an assignment this edge cannot read: %s", exc.errors()[0]["msg"])
            return None
        self.etag = r.headers.get("etag")
        self.apply(assignment)
        return assignment

    def apply(self, assignment: Assignment) -> None:
        try:
            changed = self.pipeline.settings.submit(assignment.settings)
            if changed:
                log.info(
                    "remote settings for %s taken (assignment %d)",
                    ", ".join(sorted(changed)),
                    assignment.version,
                )
        except DetectorError as exc:
            log.error("remote camera settings refused (assignment %d): %s", assignment.version, exc)
        rid = assignment.release_id
        canary = tuple(sorted(assignment.canary_cameras)) if assignment.canary_cameras else None
        if rid is None or (rid, canary) == self.taken or rid in self.given_up:
            return
        try:
            swap = self._candidate(assignment, rid, canary)
        except (NceError, httpx.HTTPError, OSError) as exc:
            why = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            log.error("model release %s refused: %s", rid, why)
            self.give_up(rid)
            self.post(RolloutReport(release_id=rid, state="refused", why=why, cameras=list(canary or ())))
            return
        self.pipeline.models.request(swap)
        self.taken = (rid, canary)

    def _candidate(self, assignment: Assignment, rid: str, canary: tuple[str, ...] | None) -> Swap:
        if assignment.sha256 is None or assignment.model_url is None:
            raise DetectorError(f"assignment {assignment.version} names release {rid} without its model")
        known = {rt.camera.id for rt in self.pipeline.cameras}
        if canary is not None and not set(canary) & known:
            raise DetectorError(f"none of the canary cameras {', '.join(canary)} runs on this edge")
        folder = self.folder / rid
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        base = assignment.model_url.rsplit("/", 1)[0]
        for name in (RELEASE_FILE, MODEL_FILE, CARD_FILE):
            self._download(f"{base}/{name}", folder / name)
        record = verify_release(folder, self.pubkey)  # the signature, then the files' signed sha256
        if record.model_sha256 != assignment.sha256:
            raise DetectorError(
                f"release {rid}: the assignment names model sha256 {assignment.sha256}, the release signs {record.model_sha256}"
            )
        cfg = self.pipeline.config
        conf = self.pipeline.detector.conf  # the site model's (learning may lower it below model.conf)
        detector = load_candidate(
            folder / MODEL_FILE,
            assignment.sha256,
            cfg.model,
            self._reference(),
            conf=conf,
            names=self.pipeline.detector.info.names,
        )
        return Swap(detector, rid, frozenset(canary) if canary is not None else None)

    def _download(self, url: str, to: Path) -> None:
        with self.client.stream("GET", url) as r:
            r.raise_for_status()
            with to.open("wb") as f:
                for chunk in r.iter_bytes(1 << 20):
                    f.write(chunk)

    def _reference(self) -> np.ndarray:
        """A camera's last frame to warm the model up on (a grey frame before any arrived)."""
        for rt in self.pipeline.cameras:
            if rt.last_frame is not None:
                return np.ascontiguousarray(rt.last_frame.image)
        return np.full((480, 640, 3), 114, np.uint8)

    # -- reports ------------------------------------------------------------------------------

    def report_events(self) -> None:
        events = self.pipeline.models.events
        while self.reported < len(events):
            e = events[self.reported]
            if e.state == "rolled_back":
                self.give_up(e.release)
            state: RolloutState = "rolled_back" if e.state == "rolled_back" else "running"
            self.post(RolloutReport(release_id=e.release, state=state, why=e.why, cameras=list(e.cameras)))
            self.reported += 1

    def post(self, report: RolloutReport) -> None:
        r = self.client.post(REPORT, json=report.model_dump(mode="json"))
        if r.status_code == 409:
            log.info("rollout report on %s not taken: the device was reassigned since", report.release_id)
        else:
            r.raise_for_status()
