"""``nce data scenario``: a clip on vtest.avi in which violations appear and disappear at known times.

The real footage plays (ping-ponged to the requested length); procedurally drawn objects are
composited *behind* the real pedestrians (a foreground mask against the median empty scene), so
people walk in front of the stalls. Written next to the clip: ``ground_truth.json`` (per violation:
zone, class, violation, start, end, box) and ``site.yaml``, a site config with the zones and short
dwell times, so that the pipeline and the demo confirm hits within the clip.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel

from detector.errors import DataError
from modeling.synth import CLASSES
from modeling.synth.backgrounds import (
    VTEST_SPEC,
    foreground_mask,
    median_background,
    read_video_frames,
    vtest_path,
)
from modeling.synth.canvas import Sprite
from modeling.synth.compose import _light, person_height_px, warp_sprite
from modeling.synth.fonts import find_cjk_fonts
from modeling.synth.objects import DRAWERS

log = logging.getLogger(__name__)
Image = npt.NDArray[np.uint8]

CAMERA_ID = "cam-vtest"
CAMERA_NAME = "友谊路 校园路口"
# where the scenario's camera stands (the console shows its address and a plan of the site)
CAMERA_LOCATION: dict[str, Any] = {"lat": 31.4045, "lon": 121.4890, "address": "宝山区 友谊路 100 号 对面"}
MIN_DWELL_S = 10.0
GRACE_S = 6.0

# zones on the vtest.avi view (fractions of the frame); see docs in the model card
ZONES: dict[str, dict[str, Any]] = {
    "z-frontage-0001": {
        "kind": "shop_frontage",
        "shop_id": "S-0001",
        "name": "好又多水果店 门前",
        "polygon": [[0.02, 0.34], [0.34, 0.34], [0.34, 0.56], [0.02, 0.56]],
    },
    "z-sidewalk-01": {
        "kind": "sidewalk",
        "name": "东侧人行道",
        "polygon": [[0.52, 0.44], [0.97, 0.44], [0.97, 0.74], [0.60, 0.74]],
    },
    "z-no-ads-01": {
        "kind": "no_ads",
        "name": "路口 禁止广告区",
        "polygon": [[0.36, 0.22], [0.78, 0.22], [0.78, 0.42], [0.36, 0.42]],
    },
    "z-green-01": {
        "kind": "road",
        "name": "草坪 绿化带",
        "polygon": [[0.62, 0.78], [0.99, 0.84], [0.99, 0.99], [0.62, 0.99]],
    },
}

RULES: list[dict[str, Any]] = [
    {
        "violation": "out_of_shop_trading",
        "zone_kinds": ["shop_frontage"],
        "classes": ["stall", "goods", "umbrella", "ad_board"],
    },
    {"violation": "street_vending", "zone_kinds": ["sidewalk", "road"], "classes": ["stall", "umbrella"]},
    {"violation": "piled_goods", "zone_kinds": ["sidewalk"], "classes": ["goods"]},
    {"violation": "illegal_ad", "zone_kinds": ["no_ads"], "classes": ["banner", "ad_board", "poster"]},
    {
        "violation": "exposed_garbage",
        "zone_kinds": ["road", "sidewalk", "shop_frontage", "no_ads"],
        "classes": ["garbage"],
    },
]


@dataclass(frozen=True)
class _Plan:
    id: str
    zone_id: str
    violation: str
    objects: tuple[tuple[str, float, float, float], ...]  # (class, anchor x, anchor y, real height m)
    start: float  # fraction of the duration
    end: float
    note: str = ""


PLANS: tuple[_Plan, ...] = (
    _Plan("v1", "z-sidewalk-01", "piled_goods", (("goods", 0.84, 0.62, 1.0),), 0.04, 0.32),
    _Plan("v2", "z-frontage-0001", "out_of_shop_trading", (("stall", 0.16, 0.50, 1.1),), 0.08, 0.55),
    _Plan("v3", "z-no-ads-01", "illegal_ad", (("banner", 0.56, 0.36, 0.7),), 0.16, 0.72),
    _Plan(
        "v4",
        "z-sidewalk-01",
        "street_vending",
        (("umbrella", 0.72, 0.655, 2.3), ("stall", 0.72, 0.67, 1.1)),
        0.40,
        0.88,
    ),
    _Plan(
        "v5",
        "z-green-01",
        "exposed_garbage",
        (("garbage", 0.82, 0.93, 0.6),),
        0.52,
        1.0,
        "still present when the clip ends",
    ),
    _Plan(
        "v6",
        "z-frontage-0001",
        "out_of_shop_trading",
        (("ad_board", 0.24, 0.47, 1.2),),
        0.70,
        0.75,
        "too short to confirm: shown for less than min_dwell_s",
    ),
)


class ScenarioObject(BaseModel):
    cls: str
    box: list[float]  # x1, y1, x2, y2 pixels (the whole object, as drawn)
    box_norm: list[float]


class ScenarioViolation(BaseModel):
    id: str
    camera_id: str
    zone_id: str
    zone_kind: str
    violation: str
    cls: str
    start_s: float
    end_s: float
    box: list[float]
    box_norm: list[float]
    objects: list[ScenarioObject]
    expect_hit: bool
    note: str = ""


class ScenarioTruth(BaseModel):
    video: str
    ground_truth: str
    site_config: str
    camera_id: str
    fps: float
    frames: int
    duration_s: float
    width: int
    height: int
    seed: int
    source: str
    min_dwell_s: float
    grace_s: float
    violations: list[ScenarioViolation]
    notes: list[str]


def pingpong_index(i: int, n: int) -> int:
    """Frame ``i`` of a clip that plays ``n`` source frames forward, then backward, and so on."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    k = i % period
    return k if k < n else period - k


def _sprite_for(
    rng: np.random.Generator, cls: str, ax: float, ay: float, real_h: float, w: int, h: int, fonts: Any
) -> tuple[Sprite, int, int]:
    ph = person_height_px(VTEST_SPEC, ay * h, h)
    px = max(12, int(ph * real_h / 1.7))
    sp = warp_sprite(DRAWERS[cls](rng, px, fonts), rng, 0.08)
    sw, sh = sp.size
    x = int(ax * w - sw / 2)
    y = int(ay * h - sh)
    if cls == "banner":  # hung with its bottom edge at the anchor, from two poles
        pass
    return sp, x, y


def _encode(frames_iter: Callable[[], Any], out: Path, w: int, h: int, fps: float) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        cmd = [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{w}x{h}",
            "-r",
            f"{fps:g}",
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "20",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(round(fps * 2)),
            "-movflags",
            "+faststart",
            str(out),
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        if proc.stdin is None:
            raise DataError("ffmpeg started without an input pipe")
        try:
            for frame in frames_iter():
                proc.stdin.write(frame.tobytes())
        finally:
            proc.stdin.close()
            rc = proc.wait()
        if rc != 0:
            raise DataError(f"ffmpeg failed (exit {rc}) writing {out}")
        return
    log.warning("ffmpeg not found: writing %s with OpenCV's mp4v codec (not H.264)", out)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    try:
        for frame in frames_iter():
            writer.write(frame)
    finally:
        writer.release()


def site_config(video: str, model_path: str, conf: float = 0.35) -> dict[str, Any]:
    """The site config that goes with a scenario clip (short dwell times, zones on the vtest view)."""
    return {
        "site": {"id": "vtest-scenario", "name": "示范场景 (vtest.avi)", "timezone": "Asia/Shanghai"},
        "model": {"path": model_path, "providers": ["CPUExecutionProvider"], "conf": conf, "iou": 0.5},
        "shops": [
            {
                "id": "S-0001",
                "name": "好又多水果店",
                "code": "310113-0001",
                "license_no": "91310113MA1G000001",
                "address": "宝山区 友谊路 100 号",
                "contact": "021-00000000",
            }
        ],
        "cameras": [
            {
                "id": CAMERA_ID,
                "name": CAMERA_NAME,
                "source": video,
                "location": dict(CAMERA_LOCATION),
                "detect_fps": 2,
                "zones": [{"id": zid, **{k: v for k, v in z.items()}} for zid, z in ZONES.items()],
            }
        ],
        "rules": [
            {
                **r,
                "min_dwell_s": MIN_DWELL_S + (5.0 if r["violation"] == "exposed_garbage" else 0.0),
                "cooldown_s": 120.0,
                "grace_s": GRACE_S,
                "update_interval_s": 10.0,
            }
            for r in RULES
        ],
    }


def render_scenario(
    out: str | os.PathLike[str],
    seed: int = 0,
    duration_s: float = 90.0,
    fps: float = 10.0,
    model_path: str = "models/street-v1.onnx",
    data: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScenarioTruth:
    """Render ``scenario.mp4`` + ``ground_truth.json`` + ``site.yaml`` under ``out``."""
    if not 5.0 <= duration_s <= 1800.0:
        raise DataError(f"--duration must be 5..1800 s, got {duration_s}")
    if not 1.0 <= fps <= 30.0:
        raise DataError(f"--fps must be 1..30, got {fps}")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"--out {root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    src = read_video_frames(vtest_path(data))
    h, w = src[0].shape[:2]
    empty = median_background(src)
    fonts = find_cjk_fonts()
    rng = np.random.default_rng(seed)
    n_frames = round(duration_s * fps)
    # objects, drawn once each (they are static), lit for the scene
    active: list[tuple[float, float, Sprite, Image, int, int]] = []
    violations: list[ScenarioViolation] = []
    for plan in PLANS:
        jitter = float(rng.uniform(-0.03, 0.03))
        start = round(max(0.0, plan.start + jitter) * duration_s, 1)
        end = round(min(1.0, plan.end + jitter if plan.end < 1.0 else 1.0) * duration_s, 1)
        dx, dy = float(rng.uniform(-0.02, 0.02)), float(rng.uniform(-0.01, 0.01))
        objs: list[ScenarioObject] = []
        for cls, ax, ay, real_h in plan.objects:
            sp, x, y = _sprite_for(rng, cls, ax + dx, ay + dy, real_h, w, h, fonts)
            x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + sp.size[0]), min(h, y + sp.size[1])
            sub = Sprite(sp.bgr[y0 - y : y1 - y, x0 - x : x1 - x], sp.alpha[y0 - y : y1 - y, x0 - x : x1 - x])
            lit = _light(sub, rng, empty[y0:y1, x0:x1])
            ys, xs = np.nonzero(sub.alpha >= 0.5)
            box = [
                float(x0 + xs.min()),
                float(y0 + ys.min()),
                float(x0 + xs.max() + 1),
                float(y0 + ys.max() + 1),
            ]
            objs.append(
                ScenarioObject(
                    cls=cls,
                    box=box,
                    box_norm=[
                        round(box[0] / w, 4),
                        round(box[1] / h, 4),
                        round(box[2] / w, 4),
                        round(box[3] / h, 4),
                    ],
                )
            )
            active.append((start, end, sub, lit, x0, y0))
            anchor = ((box[0] + box[2]) / 2 / w, box[3] / h)
            poly = np.array(ZONES[plan.zone_id]["polygon"], np.float32)
            if cv2.pointPolygonTest(poly, anchor, False) < 0:
                raise DataError(
                    f"scenario {plan.id}: {cls} anchor {anchor} falls outside zone {plan.zone_id}"
                )
        main = next((o for o in objs if o.cls != "umbrella"), objs[0])
        dwell = MIN_DWELL_S + (5.0 if plan.violation == "exposed_garbage" else 0.0)
        violations.append(
            ScenarioViolation(
                id=plan.id,
                camera_id=CAMERA_ID,
                zone_id=plan.zone_id,
                zone_kind=str(ZONES[plan.zone_id]["kind"]),
                violation=plan.violation,
                cls=main.cls,
                start_s=start,
                end_s=end,
                box=main.box,
                box_norm=main.box_norm,
                objects=objs,
                expect_hit=(end - start) >= dwell + 2.0,
                note=plan.note,
            )
        )
    # draw far objects first
    active.sort(key=lambda a: a[5] + a[2].alpha.shape[0])

    def frames() -> Any:
        for i in range(n_frames):
            t = i / fps
            frame = src[pingpong_index(i, len(src))].copy()
            fg = foreground_mask(frame, empty)
            for start, end, sub, lit, x0, y0 in active:
                if not start <= t < end:
                    continue
                hh, ww = sub.alpha.shape
                a = sub.alpha * ~fg[y0 : y0 + hh, x0 : x0 + ww]
                region = frame[y0 : y0 + hh, x0 : x0 + ww]
                region[:] = np.clip(lit * a[..., None] + region * (1 - a[..., None]), 0, 255).astype(np.uint8)
            if progress is not None:
                progress(i + 1, n_frames)
            yield frame

    video = root / "scenario.mp4"
    _encode(frames, video, w, h, fps)
    gt_path = root / "ground_truth.json"
    cfg_path = root / "site.yaml"
    truth = ScenarioTruth(
        video=str(video),
        ground_truth=str(gt_path),
        site_config=str(cfg_path),
        camera_id=CAMERA_ID,
        fps=fps,
        frames=n_frames,
        duration_s=duration_s,
        width=w,
        height=h,
        seed=seed,
        source="OpenCV sample vtest.avi (opencv-doc), played forward and backward",
        min_dwell_s=MIN_DWELL_S,
        grace_s=GRACE_S,
        violations=violations,
        notes=[
            "boxes are whole objects as drawn, in pixels of the clip; pedestrians may hide parts of them",
            "end_s is exclusive; objects are visible for start_s <= t < end_s",
            "the footage has real litter on the lawn (bottom left) at all times; it is not a scenario violation",
            "classes: " + ", ".join(CLASSES),
        ],
    )
    gt_path.write_text(truth.model_dump_json(indent=2))
    # absolute: a site config's relative paths are relative to its own folder (detector.config.paths)
    cfg = site_config(str(video.absolute()), str(Path(model_path).absolute()))
    cfg_path.write_text(
        "# Site config for the scenario clip written by `nce data scenario` (short dwell times for a demo).\n"
        + yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)
    )
    return truth
