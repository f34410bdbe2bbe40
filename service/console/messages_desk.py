"""The console's words for the review desk (keyboard review, revert, search, bulk dismissal:
service/console/desk.py, queue_link.py), part of :data:`service.console.messages.CATALOGUE`:
``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

DESK: Final[dict[str, tuple[str, str]]] = {
    "action.review_reverted": ("撤销审核", "review reverted"),
    "ledger.field.review_seq": ("撤销的审核记录", "Review entry undone"),
    "ledger.field.frames_withdrawn": ("撤回样本帧标注", "Frame labels withdrawn"),
    "labelhow.review_revert": ("撤销审核（撤回标注）", "review reverted (label withdrawn)"),
    "done.reverted": (
        "已撤销案件 #{id} 的审核，案件回到待审核。",
        "Review of case #{id} reverted: a draft again.",
    ),
    "desk.queue_end": ("队列中已没有待审核案件。", " No draft left in this queue."),
    "desk.keys": (
        "键盘：C 确认 · D 驳回，再按数字选理由，Enter 提交，Esc 取消 · J/K 下一件/上一件",
        "Keys: C confirm · D dismiss, then a digit picks a reason, Enter submits, Esc cancels · J/K next/previous",
    ),
    "desk.pick_reason": (
        "按数字选择理由，Enter 驳回，Esc 取消",
        "A digit picks a reason; Enter dismisses; Esc cancels",
    ),
    "desk.revert": ("撤销审核", "Revert review"),
    "desk.revert_reason": ("撤销理由（必填）", "Reason to revert (required)"),
    "desk.revert_until": ("可撤销至 {when}", "Can be reverted until {when}"),
    "desk.revert_reason_required": ("撤销审核必须填写理由。", "A reason is required to revert a review."),
    "desk.search": ("搜索", "Search"),
    "desk.search_hint": ("案件号、商户、地址或摄像头", "Case id, shop, address or camera"),
    "desk.bulk_pick": ("选择", "Pick"),
    "desk.bulk_title": ("批量驳回", "Bulk dismissal"),
    "desk.bulk_reason": ("理由", "Reason"),
    "desk.bulk_text": ("补充说明", "Note"),
    "desk.bulk_submit": ("驳回所选 (X 选择)", "Dismiss picked (X picks)"),
    "desk.bulk_picked": ("已选 {n} 件", "{n} picked"),
    "desk.bulk_confirm": ("确认驳回以下 {n} 件案件？", "Dismiss these {n} cases?"),
    "desk.bulk_recorded": ("记录的理由：{reason}", "Reason recorded: {reason}"),
    "desk.bulk_go": ("确认驳回 {n} 件", "Dismiss {n}"),
    "desk.bulk_back": ("返回队列", "Back to the queue"),
    "desk.bulk_none": ("没有选择案件。", "No case picked."),
    "desk.bulk_too_many": ("一次最多驳回 {n} 件。", "At most {n} cases at once."),
    "desk.bulk_done": ("已批量驳回 {n} 件。", "{n} cases dismissed."),
    "desk.bulk_failed": (
        "{n} 件未驳回（已被他人处理或不存在）。",
        " {n} not dismissed (reviewed by someone else, or gone).",
    ),
}
