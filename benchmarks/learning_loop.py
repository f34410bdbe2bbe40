"""The data engine's loop with real processes, for ``bench_learning``: the case service
(``python -m nce serve`` on SQLite), an enrolled edge box running ``nce run`` on a clip of the
shifted domain with ``learning:`` on, and an operator who works through the HTTP API from the
ground truth (confirm true hits, dismiss false ones as false detections, finish the frames reviews
left partial, import and label pool frames), then ``nce dataset export``."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import numpy.typing as npt
import yaml

from benchmarks.common import ROOT
from nce.manifest import generate_private_key, save_private_key, save_public_key
from nce.vocabulary import MODEL_CLASSES

Image = npt.NDArray[np.uint8]
Box = tuple[str, list[float]]  # (class, [x1, y1, x2, y2] pixels)
CAMERA_EDGE = "cam-shift-edge"
PASSWORD = "bench-operator-" + secrets.token_hex(6)


def nce(*args: str, cwd: Path = ROOT, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """``python -m nce ARGS`` as a user runs it; raises with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "nce", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nce {' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def yolo_boxes(label_file: Path, w: int, h: int) -> list[Box]:
    """A YOLO label file as (class, pixel box) pairs."""
    out: list[Box] = []
    for line in label_file.read_text().splitlines():
        if not line.strip():
            continue
        c, cx, cy, bw, bh = line.split()
        x, y, ww, hh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
        box = [round(max(0.0, x - ww / 2), 2), round(max(0.0, y - hh / 2), 2),
               round(min(w, x + ww / 2), 2), round(min(h, y + hh / 2), 2)]  # fmt: skip
        out.append((MODEL_CLASSES[int(c)], box))
    return out


def read_image(path: Path) -> Image:
    img = cv2.imread(str(path))
    if img is None:
        raise RuntimeError(f"cannot read {path}")
    return np.asarray(img, np.uint8)


def images_of(dataset: Path, split: str = "train") -> list[Path]:
    return sorted((dataset / "images" / split).glob("*.jpg"))


def truth_of(image: Path) -> list[Box]:
    h, w = read_image(image).shape[:2]
    return yolo_boxes(image.parent.parent.parent / "labels" / image.parent.name / f"{image.stem}.txt", w, h)


def iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Slideshow:
    """A clip of still scenes (each held ``hold_s``), its site config and each scene's ground truth."""

    video: Path
    site: Path
    scenes: list[Path]
    thumbs: np.ndarray = field(repr=False)

    def scene_of(self, image: np.ndarray) -> Path:
        """The scene an (edge-recorded) frame shows: the nearest by a small grey thumbnail."""
        t = _thumb(image)
        return self.scenes[int(np.abs(self.thumbs - t).mean(axis=(1, 2)).argmin())]


def _thumb(image: np.ndarray) -> npt.NDArray[np.float32]:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return np.asarray(cv2.resize(grey, (32, 24), interpolation=cv2.INTER_AREA), np.float32)


def zones(grid: int) -> list[dict[str, Any]]:
    """A sidewalk and a no-ads zone over the whole frame (``grid`` 1), or each cut into ``grid`` x
    ``grid`` cells, as a camera over a row of shop fronts has a zone per front: a case gathers the
    hits of one zone and violation, so cells keep a false detection in one place out of a case
    confirmed for an object in another (and it gets a review, a hard negative, of its own)."""
    if grid < 1:
        raise ValueError(f"zone grid: expected 1 or more cells a side, got {grid}")
    out = []
    for kind, prefix in (("sidewalk", "z-walk"), ("no_ads", "z-ads")):
        for row in range(grid):
            for col in range(grid):
                x0, x1, y0, y1 = col / grid, (col + 1) / grid, row / grid, (row + 1) / grid
                zid = prefix if grid == 1 else f"{prefix}-{row}{col}"
                out.append({"id": zid, "kind": kind, "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]})
    return out


def slideshow(
    root: Path, scenes: list[Path], model: Path, hold_s: float = 6.0, fps: float = 2.0, grid: int = 1
) -> Slideshow:
    """``scenes.mp4`` (every scene for ``hold_s``) and a site config: a sidewalk and a no-ads zone
    (:func:`zones`) so that every class can make a hit, short dwell times."""
    root.mkdir(parents=True, exist_ok=True)
    video = root / "scenes.mp4"
    first = read_image(scenes[0])
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    thumbs = []
    try:
        for path in scenes:
            img = read_image(path)
            thumbs.append(_thumb(img))
            for _ in range(round(hold_s * fps)):
                writer.write(img)
    finally:
        writer.release()
    timing = {"min_dwell_s": 2.0, "grace_s": 1.0, "cooldown_s": 0.0, "update_interval_s": 60.0}
    site = {
        "site": {"id": "shifted-bench", "name": "shifted domain", "timezone": "Asia/Shanghai"},
        "model": {"path": str(model.resolve()), "providers": ["CPUExecutionProvider"], "conf": 0.35},
        "shops": [{"id": "S-1", "name": "shop", "code": "310000-0001"}],
        "cameras": [
            {
                "id": CAMERA_EDGE,
                "name": "shifted domain",
                "source": str(video.resolve()),
                "detect_fps": fps,
                "zones": zones(grid),
            }
        ],
        "rules": [
            {"violation": "street_vending", "zone_kinds": ["sidewalk"], "classes": ["stall", "umbrella"], **timing},
            {"violation": "piled_goods", "zone_kinds": ["sidewalk"], "classes": ["goods"], **timing},
            {"violation": "exposed_garbage", "zone_kinds": ["sidewalk"], "classes": ["garbage"], **timing},
            {"violation": "illegal_ad", "zone_kinds": ["no_ads"], "classes": ["banner", "ad_board", "poster"],
             **timing},
        ],
        "learning": {"enabled": True, "periodic_every_s": 60, "min_gap_s": 0},
    }  # fmt: skip
    path = root / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Slideshow(video, path, scenes, np.stack(thumbs))


class Loop:
    """The service, one edge box and one operator (a supervisor: reviews, imports and labels)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.db = f"sqlite:///{root / 'service.sqlite3'}"
        self.store = root / "store"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.http: httpx.Client | None = None

    # -- the service --------------------------------------------------------------------------
    def start(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        key = self.root / "service.key"
        save_private_key(generate_private_key(), key)
        env = {
            **os.environ,
            "NCE_SECRET_KEY": "bench-" + secrets.token_hex(16),
            "NCE_SERVICE_KEY_FILE": str(key),
        }
        log = (self.root / "service.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nce", "serve", "--db", self.db, "--port", str(port),
             "--evidence-dir", str(self.store)],
            cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"nce serve exited {self.proc.returncode}; see {self.root / 'service.log'}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("nce serve did not come up")
        done = subprocess.run(
            [sys.executable, "-m", "nce", "admin", "add-user", "--db", self.db, "--username", "operator",
             "--role", "supervisor", "--password-stdin"],
            input=PASSWORD + "\n", capture_output=True, text=True, cwd=self.root, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": "operator", "password": PASSWORD})
        r.raise_for_status()
        token = r.json()["access_token"]
        self.http = httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def api(self) -> httpx.Client:
        if self.http is None:
            raise RuntimeError("the service is not started")
        return self.http

    # -- the edge -----------------------------------------------------------------------------
    def run_edge(self, show: Slideshow) -> dict[str, Any]:
        """Enrol a device, give the site config an uplink and run ``nce run`` over the clip."""
        keys = self.root / "keys"
        keys.mkdir(exist_ok=True)
        key = generate_private_key()
        save_private_key(key, keys / "edge.key")
        save_public_key(key.public_key(), keys / "edge.pub")
        nce("admin", "add-device", "--db", self.db, "--device-id", "edge-shift", "--pubkey",
            str(keys / "edge.pub"), "--token-out", str(keys / "edge.token"), cwd=self.root)  # fmt: skip
        doc = yaml.safe_load(show.site.read_text(encoding="utf-8"))
        edge = self.root / "edge"
        doc["device"] = {"id": "edge-shift", "key_file": str(keys / "edge.key")}
        doc["uplink"] = {"service_url": self.url, "token_file": str(keys / "edge.token"),
                         "outbox_file": str(edge / "outbox.sqlite"), "data_dir": str(edge), "drain_s": 60.0}  # fmt: skip
        site = self.root / "site.yaml"
        site.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        t0 = time.monotonic()
        nce("run", "--config", str(site), "--until-eof", cwd=self.root)
        return {"seconds": round(time.monotonic() - t0, 1)}

    # -- the operator -------------------------------------------------------------------------
    def _pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            q = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
            r = self.api.get(path, params=q)
            r.raise_for_status()
            doc = r.json()
            items += doc["items"]
            cursor = doc.get("next_cursor")
            if not cursor:
                return items

    def _hit_seen(self, detail: dict[str, Any]) -> tuple[str, list[float], np.ndarray] | None:
        """The first signed package's class, box and raw still (what the operator looks at)."""
        for hit in detail["hits"]:
            files = {f["role"]: f for f in hit.get("files") or []}
            if "manifest" not in files or "still_raw" not in files:
                continue
            manifest = self.api.get(files["manifest"]["url"]).raise_for_status().json()
            event = manifest.get("event") or {}
            r = self.api.get(files["still_raw"]["url"]).raise_for_status()
            img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            if img is not None and event.get("label") and event.get("box"):
                return str(event["label"]), [float(v) for v in event["box"]], np.asarray(img)
        return None

    def run_edge_reviewing(
        self, show: Slideshow, every_s: float = 1.0
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """``nce run`` over the clip while the operator works the queue as a command centre does
        (a pass every ``every_s``): a case is reviewed soon after it opens, so the next hit of the
        zone opens a new case instead of piling every scene's hits into one draft."""
        done = threading.Event()
        out: dict[str, Any] = {}

        def edge() -> None:
            try:
                out.update(self.run_edge(show))
            except BaseException as exc:  # re-raised below, in the operator's thread
                out["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=edge, name="edge", daemon=True)
        worker.start()
        counts: Counter[str] = Counter()
        while not done.wait(every_s):
            counts.update(self.review_cases(show))
        worker.join()
        if "error" in out:
            raise out["error"]
        counts.update(self.review_cases(show))  # what the outbox delivered while draining
        return out, dict(counts)

    def review_cases(self, show: Slideshow) -> dict[str, int]:
        """Confirm a draft case when its scene holds an object of the hit's class at the hit's box
        (IoU >= 0.3), else dismiss it as a false detection (a hard negative)."""
        counts = {"cases": 0, "confirmed": 0, "dismissed_false_detection": 0, "no_still": 0}
        for case in self._pages("/api/v1/cases", status="draft"):
            counts["cases"] += 1
            detail = self.api.get(f"/api/v1/cases/{case['id']}").raise_for_status().json()
            seen = self._hit_seen(detail)
            if seen is None:
                counts["no_still"] += 1
                continue
            label, box, still = seen
            hit = any(c == label and iou(b, box) >= 0.3 for c, b in truth_of(show.scene_of(still)))
            body = (
                {"decision": "confirm", "reason": "ground truth: object present"}
                if hit
                else {"decision": "dismiss", "reason": "非违规/误检", "false_detection": True}
            )
            self.api.post(f"/api/v1/cases/{case['id']}/review", json=body).raise_for_status()
            counts["confirmed" if hit else "dismissed_false_detection"] += 1
        return counts

    def finish_review_frames(self, show: Slideshow) -> dict[str, int]:
        """Frames a review left partial (a case gathers the hits of its zone and violation, so one
        review labels the stills of several scenes): where the scene has objects, label them all
        (complete); where it is empty, keep a dismissal's hard negatives as they are, and clear the
        wrong boxes a confirmation put there (complete, no objects)."""
        counts = {"completed": 0, "left_hard_negative": 0, "cleared_to_empty": 0}
        for frame in self._pages("/api/v1/frames", status="partial"):
            r = self.api.get(f"/api/v1/frames/{frame['frame_id']}/image").raise_for_status()
            img = np.asarray(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR))
            truth = truth_of(show.scene_of(img))
            if truth:
                self.label(frame["frame_id"], truth)
                counts["completed"] += 1
            elif any(not b.get("negative") for b in frame.get("labels") or []):
                self.label(frame["frame_id"], [])
                counts["cleared_to_empty"] += 1
            else:
                counts["left_hard_negative"] += 1
        return counts

    def label(self, frame_id: Any, boxes: list[Box]) -> None:
        body = {"boxes": [{"label": c, "box": b} for c, b in boxes], "complete": True}
        r = self.api.put(f"/api/v1/frames/{frame_id}/labels", json=body)
        if r.status_code != 200:
            raise RuntimeError(f"labelling frame {frame_id}: {r.status_code} {r.text[:300]}")

    def import_and_label(self, images: list[Path], cameras: int = 20) -> None:
        """Upload pool images (spread over ``cameras`` camera ids, so that the export's camera/day
        split has groups to hold out) and label each from its ground truth."""
        for i, path in enumerate(images):
            r = self.api.post(
                "/api/v1/frames",
                files={"image": (path.name, path.read_bytes(), "image/jpeg")},
                data={"camera_id": f"cam-shift-{i % cameras}"},
            )
            if r.status_code not in (200, 201):
                raise RuntimeError(f"importing {path}: {r.status_code} {r.text[:300]}")
            self.label(r.json()["frame_id"], truth_of(path))

    def pool_counts(self) -> dict[str, int]:
        return {
            s: len(self._pages("/api/v1/frames", status=s)) for s in ("unlabelled", "partial", "labelled")
        }

    def export(self, out: Path) -> dict[str, Any]:
        done = nce("dataset", "export", "--db", self.db, "--evidence-dir", str(self.store), "--out", str(out),
                   "--include-partial", "--json", cwd=self.root)  # fmt: skip
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc
