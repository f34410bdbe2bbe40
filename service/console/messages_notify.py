"""The console's words for notices and their messages (ledger entries ``notice_sent``,
``notice_send_failed``, ``notice_delivered``, ``notice_delivery_failed``, ``outbound_retried``, and
a webhook's end: ``webhook_delivered``, ``webhook_failed``; the
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
    "action.webhook_delivered": ("已推送至办案系统", "pushed to the case system"),
    "action.webhook_failed": ("推送办案系统失败", "could not be pushed to the case system"),
    "ledger.field.case_event": ("推送事件", "Event pushed"),
    "case_event.confirmed": ("案件已确认", "case confirmed"),
    "case_event.notice_issued": ("已告知", "notice issued"),
    "case_event.notice_delivered": ("告知已送达", "notice delivered"),
    "case_event.shop_responded": ("当事人已回应", "shop responded"),
    "case_event.corrected": ("已整改", "corrected"),
    "case_event.escalated": ("已升级", "escalated"),
    "case_event.exported": ("已移送", "exported"),
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
