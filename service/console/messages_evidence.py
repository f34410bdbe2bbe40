"""The console's words for a case's evidence, place and legal basis (the large still, the crop, the
camera's plan, the penalty clause) and the detector's class names, part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

EVIDENCE: Final[dict[str, tuple[str, str]]] = {
    # the model's classes (nce.vocabulary.MODEL_CLASSES); the edge burns the same names into stills
    # (detector/evidence/render.py CLASS_ZH, tests check)
    "class.stall": ("摊位", "stall"),
    "class.goods": ("货物", "goods"),
    "class.umbrella": ("遮阳伞", "umbrella"),
    "class.banner": ("横幅", "banner"),
    "class.ad_board": ("广告牌", "ad board"),
    "class.poster": ("张贴广告", "poster"),
    "class.garbage": ("垃圾", "garbage"),
    "class.person": ("行人", "person"),
    "case.crop": ("目标特写", "Close-up of the object"),
    "case.no_crop": ("无目标特写。", "No close-up."),
    "case.zoom_hint": (
        "点击图片查看原图（再点一次按原始分辨率显示）",
        "Click to enlarge (click again for full resolution)",
    ),
    "case.other_stills": ("其他照片", "Other stills"),
    "case.address": ("地址", "Address"),
    "case.plan": ("摄像头点位", "Camera position"),
    "case.plan.none": ("未配置摄像头位置。", "No camera position configured."),
    "case.plan.note": ("点位示意（按经纬度，非地图）", "Sketch from latitude and longitude, not a map"),
    "case.legal.penalty_text": ("罚则", "Penalty clause"),
    "case.legal.unverified_note": (
        "本法律依据未经法制部门审核，引用前请核对现行文本。",
        "Not yet checked by the bureau's legal office: check the text in force before citing it.",
    ),
    "case.tl.order": ("按发生时间排序", "In the order it happened"),
    "case.tl.received": ("接收时间", "Received"),
    "queue.col.location": ("位置", "Location"),
}
