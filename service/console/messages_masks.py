"""The console's words for learned masks (屏蔽区, /masks: service/console/masks.py), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

MASKS: Final[dict[str, tuple[str, str]]] = {
    "nav.masks": ("屏蔽区", "Masks"),
    "action.mask_accepted": ("采纳屏蔽区", "mask accepted"),
    "action.mask_rejected": ("驳回屏蔽区建议", "mask rejected"),
    "masks.title": ("屏蔽区", "Learned masks"),
    "masks.intro": (
        "同一摄像头同一位置的同类目标在 {days} 天内被判为误检 {n} 次（不同案件）以上时，系统建议设置屏蔽区："
        "采纳后，该类目标底部中心落在区域内的检测将在边缘端规则前丢弃。",
        "When the same class at the same place of a camera is dismissed as a false detection in {n} "
        "cases within {days} days, a mask is proposed: once accepted, detections of that class whose "
        "bottom-centre is inside are dropped on the edge box before the rules.",
    ),
    "masks.status.proposed": ("待决定", "Proposed"),
    "masks.status.accepted": ("已采纳", "Accepted"),
    "masks.status.rejected": ("已驳回", "Rejected"),
    "masks.camera": ("摄像头", "Camera"),
    "masks.all_cameras": ("全部摄像头", "All cameras"),
    "masks.filter": ("筛选", "Filter"),
    "masks.empty": ("没有符合条件的屏蔽区建议。", "No mask proposals here."),
    "masks.camera_title": ("摄像头 {camera}", "Camera {camera}"),
    "masks.yaml": ("下载已采纳屏蔽区（YAML）", "Download the accepted masks (YAML)"),
    "masks.yaml_note": (
        "粘贴到站点配置中该摄像头的 masks: 之下（在远程下发配置之前）。",
        "Paste under this camera's masks: in the site config (until the config is delivered remotely).",
    ),
    "masks.proposal": ("建议 #{id}", "Proposal #{id}"),
    "masks.class": ("目标类别", "Class"),
    "masks.dismissals": ("误检驳回", "False-detection dismissals"),
    "masks.dismissals_n": ("{n} 起案件", "{n} case(s)"),
    "masks.period": ("时间", "When"),
    "masks.cases": ("案件", "Cases"),
    "masks.decided": ("{who} 于 {when} {what}", "{what} by {who} at {when}"),
    "masks.reason": ("理由", "Reason"),
    "masks.no_picture": ("无截图", "No still"),
    "masks.legend": (
        "实线：建议的屏蔽区；虚线框：被判误检的检测框；圆点：框底部中心",
        "Solid: the proposed mask; dashed: the boxes dismissed as false; dots: their bottom-centres",
    ),
    "masks.accept": ("采纳 (A)", "Accept (A)"),
    "masks.reject": ("驳回 (R)", "Reject (R)"),
    "masks.reject_reason": ("驳回理由（必填）", "Reason to reject (required)"),
    "masks.supervisor_only": (
        "只有主管可以采纳或驳回屏蔽区。",
        "Only a supervisor may accept or reject a mask.",
    ),
    "masks.keys": (
        "J/K 下一条/上一条 · A 采纳 · R 填写驳回理由（Enter 提交）",
        "J/K next/previous · A accept · R write the reason to reject (Enter submits)",
    ),
    "masks.done.accepted": ("已采纳屏蔽区建议 #{id}。", "Mask proposal #{id} accepted."),
    "masks.done.rejected": ("已驳回屏蔽区建议 #{id}。", "Mask proposal #{id} rejected."),
    "masks.err.forbidden": (
        "操作未执行：只有主管可以采纳或驳回屏蔽区（当前角色“{role}”）。",
        "Not done: only a supervisor may accept or reject a mask (your role: “{role}”).",
    ),
    "masks.err.reason_required": ("驳回必须填写理由。", "A reason is required to reject."),
    "masks.err.not_found": ("屏蔽区建议 #{id} 不存在。", "Mask proposal #{id} does not exist."),
    "masks.err.decided": (
        "操作未执行：屏蔽区建议 #{id} 已被处理（可能已被他人处理），请刷新页面。",
        "Not done: mask proposal #{id} has been decided already (someone may have done it); reload the page.",
    ),
}
