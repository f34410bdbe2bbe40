"""The console's words for score-threshold proposals (the dashboard's section), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

THRESHOLDS: Final[dict[str, tuple[str, str]]] = {
    "thr.title": ("置信度阈值建议", "Score-threshold proposals"),
    "thr.note": (
        "按摄像头和类别，依据近 {days} 天已审核的案件（确认 与 以“误检”驳回；以“非违规”驳回的不计）提出更高的最低置信度。"
        "只能建议提高：边缘端未上报的检测服务端看不到，无法判断降低阈值会多出什么。",
        "Per camera and class, from the cases of the last {days} days reviewed as confirmed or dismissed "
        "as false detections (not_violation dismissals do not count). Only raises: the service never "
        "sees what the edge did not send, so it cannot tell what a lower threshold would add.",
    ),
    "thr.none": (
        "暂无建议（证据不足，或提高阈值会损失过多确认案件）",
        "No proposal (too little evidence, or a higher threshold would lose too many confirmed cases)",
    ),
    "thr.col.camera": ("摄像头", "Camera"),
    "thr.col.class": ("类别", "Class"),
    "thr.col.current": ("当前", "Current"),
    "thr.col.proposed": ("建议", "Proposed"),
    "thr.col.effect": ("预期效果", "Expected effect"),
    "thr.unknown": ("未知", "unknown"),
    "thr.effect": (
        "可去除 {false} 个误检中的 {removed} 个，损失 {confirmed} 个确认案件中的 {lost} 个",
        "would have removed {removed} of {false} false detections and lost {lost} of {confirmed} confirmed",
    ),
    "thr.yaml": (
        "粘贴到运行该摄像头的边缘盒站点配置中（rules[].min_score；对该规则的所有类别和该盒所有摄像头生效，每条规则取其最严格类别的建议）：",
        "Paste into the site config of the box that runs the camera (rules[].min_score: it applies to "
        "every class of the rule and every camera of the box, so each rule takes its strictest class's proposal):",
    ),
    "thr.cli": (
        "或作为摄像头远程设置下发（min_score：对该摄像头的所有类别生效，每个摄像头取其最严格类别的建议；URL 为服务数据库）：",
        "Or deliver it as the camera's remote setting (min_score: it applies to every class of the camera, "
        "so each camera takes its strictest class's proposal; URL is the service's database):",
    ),
}
