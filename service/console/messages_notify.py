"""The console's words for notices and their messages (ledger entries ``notice_sent``,
``notice_send_failed``, ``notice_delivered``, ``notice_delivery_failed``, ``outbound_retried``; the
notice's delivery; the case flag ``notice_in_person``), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

NOTIFY: Final[dict[str, tuple[str, str]]] = {
    "action.notice_sent": ("告知短信已发出", "notice message sent"),
    "action.notice_send_failed": ("告知短信发送失败", "notice message could not be sent"),
    "action.notice_delivered": ("告知短信已送达", "notice message delivered"),
    "action.notice_delivery_failed": ("告知短信未送达", "notice message not delivered"),
    "action.outbound_retried": ("重发失败消息", "failed messages sent again"),
    "ledger.field.delivery": ("送达方式", "Delivery"),
    "delivery.sms": ("短信", "SMS"),
    "delivery.in_person": ("现场送达", "in person"),
    "ledger.field.channel": ("渠道", "Channel"),
    "channel.http": ("短信网关", "SMS gateway"),
    "channel.log": ("仅记入日志（演示）", "log only (demo)"),
    "channel.sms": ("短信", "SMS"),
    "channel.none": ("未配置", "not configured"),
    "ledger.field.phone": ("接收号码", "Phone"),
    "ledger.field.status_code": ("网关应答码", "Gateway answer"),
    "ledger.field.attempts": ("尝试次数", "Attempts"),
    "ledger.field.error": ("错误", "Error"),
    "ledger.field.detail": ("回执说明", "Receipt detail"),
    "ledger.field.receipt_at": ("回执时间", "Receipt time"),
    "ledger.field.target": ("发送目标", "Target"),
    "ledger.field.count": ("条数", "Count"),
    "case.flag.notice_in_person": (
        "无手机号：告知书需现场送达",
        "no mobile number: hand the notice over in person",
    ),
}
