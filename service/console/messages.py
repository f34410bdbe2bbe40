"""The console's one message catalogue: every label, zh-CN (default) and English.

``CATALOGUE[key] = (zh-CN, en)``. Templates call ``t("key")``; a key missing here is an error when the
page renders (tests render every page in both languages), never a silently blank label. Placeholders
use ``str.format`` names: ``t("queue.showing", n=3)``.
"""

from __future__ import annotations

from typing import Final, Literal

from service.console.messages_admin import ADMIN
from service.console.messages_desk import DESK
from service.console.messages_devices import DEVICES
from service.console.messages_evidence import EVIDENCE
from service.console.messages_labelling import LABELLING
from service.console.messages_masks import MASKS
from service.console.messages_models import MODELS
from service.console.messages_notify import NOTIFY
from service.console.messages_rollouts import ROLLOUTS
from service.console.messages_shop_page import SHOP_PAGE
from service.console.messages_shops import SHOPS
from service.console.messages_thresholds import THRESHOLDS
from service.console.messages_zones import ZONES

Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-CN", "en")
DEFAULT_LANG: Final[Lang] = "zh-CN"

CATALOGUE: Final[dict[str, tuple[str, str]]] = {
    # the frame
    "app.title": ("非现场执法 · 审核台", "NCE review console"),
    "app.short": ("非现场执法", "NCE"),
    "nav.queue": ("待审队列", "Queue"),
    "nav.dashboard": ("统计", "Dashboard"),
    "nav.label": ("标注", "Labelling"),
    "nav.signout": ("退出", "Sign out"),
    "nav.lang_other": ("English", "中文"),
    "nav.signed_in_as": ("{name}（{role}）", "{name} ({role})"),
    "nav.password": ("修改密码", "Change password"),
    "nav.keys": (
        "快捷键：J/K 下一条/上一条 · C 确认 · D 驳回（再按数字选理由）· X 勾选",
        "Keys: J/K next/previous · C confirm · D dismiss (then a digit picks a reason) · X picks",
    ),
    # roles
    "role.operator": ("值班员", "operator"),
    "role.supervisor": ("主管", "supervisor"),
    "role.admin": ("管理员", "admin"),
    "role.case_system": ("办案系统", "case system"),
    "role.device": ("边缘设备", "device"),
    # sign-in
    "login.title": ("值班员登录", "Operator sign-in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误。", "Wrong username or password."),
    "login.missing": ("请填写用户名和密码。", "Enter a username and a password."),
    "login.expired": ("登录已失效，请重新登录。", "Your session has ended; sign in again."),
    "login.locked": (
        "密码错误次数过多，登录已暂时锁定，请约 {minutes} 分钟后再试。",
        "Too many wrong passwords: sign-in is locked for now; try again in about {minutes} min.",
    ),
    "login.busy": ("登录请求过多，请稍后再试。", "Too many sign-ins at once; try again in a moment."),
    "login.note": (
        "本系统记录每一次审核操作（全过程记录）。",
        "Every review action is recorded in the ledger (全过程记录).",
    ),
    # violations (ARCHITECTURE.md §2)
    "violation.out_of_shop_trading": ("出店经营/跨门营业", "Out-of-shop trading"),
    "violation.street_vending": ("占道设摊", "Street vending"),
    "violation.piled_goods": ("乱堆物料", "Piled goods"),
    "violation.illegal_ad": ("违规广告", "Illegal advertising"),
    "violation.exposed_garbage": ("暴露垃圾", "Exposed garbage"),
    # statuses
    "status.all": ("全部", "All"),
    "status.draft": ("待审核", "Draft"),
    "status.confirmed": ("已确认", "Confirmed"),
    "status.dismissed": ("已驳回", "Dismissed"),
    "status.notice_issued": ("已告知", "Notice issued"),
    "status.corrected": ("已整改", "Corrected"),
    "status.escalated": ("已升级", "Escalated"),
    "status.exported": ("已移送", "Exported"),
    # zone kinds
    "zone.shop_frontage": ("店前区域", "shop frontage"),
    "zone.sidewalk": ("人行道", "sidewalk"),
    "zone.road": ("道路", "road"),
    "zone.no_ads": ("禁设广告区", "no-ads zone"),
    # hit events
    "event.opened": ("发现", "opened"),
    "event.confirmed": ("确认持续", "confirmed"),
    "event.still_present": ("仍存在", "still present"),
    "event.cleared": ("已消失", "cleared"),
    "event.public_copy": ("公开副本", "public copy"),
    # still moments
    "moment.first_seen": ("首次发现", "first seen"),
    "moment.between": ("中间", "between"),
    "moment.confirmed": ("确认时", "confirmed"),
    "moment.cleared": ("消失时", "cleared"),
    "moment.later": ("之后", "later"),
    # ledger actions
    "action.hit_ingested": ("接收证据包", "evidence package received"),
    "action.hit_event": ("接收事件", "hit event received"),
    "action.sample_ingested": ("接收学习样本", "learning sample received"),
    "action.case_reviewed": ("人工审核", "reviewed"),
    "action.notice_issued": ("发出告知", "notice issued"),
    "action.case_corrected": ("已整改", "corrected"),
    "action.case_escalated": ("已升级", "escalated"),
    "action.case_exported": ("移送办案系统", "exported"),
    "action.case_merged": ("并案", "merged"),
    "action.shop_created": ("新增商户", "shop added"),
    "action.shop_updated": ("修改商户", "shop updated"),
    "action.shop_deleted": ("删除商户", "shop removed"),
    "action.user_disabled": ("停用账户", "user disabled"),
    "action.user_enabled": ("启用账户", "user enabled"),
    "action.password_reset": ("重置密码", "password reset"),
    "action.password_changed": ("修改密码", "password changed"),
    "action.client_revoked": ("吊销办案系统令牌", "client token revoked"),
    "action.client_token_issued": ("签发办案系统令牌", "client token issued"),
    "action.client_added": ("登记办案系统", "case system registered"),
    "action.user_added": ("新增账户", "user added"),
    "action.device_enrolled": ("登记前端设备（公钥）", "edge device enrolled (key)"),
    "action.device_disabled": ("停用前端设备", "edge device disabled"),
    "action.device_enabled": ("启用前端设备", "edge device enabled"),
    "action.device_token_issued": ("签发前端设备令牌", "edge device token issued"),
    "action.frame_added": ("样本帧入库", "frame added to the pool"),
    "action.frame_labelled": ("标注样本帧", "frame labelled"),
    # ledger entries: the payload's fields (ids and free text are shown as recorded)
    "ledger.field_value": ("{name}：{value}", "{name}: {value}"),
    "ledger.list_sep": ("；", "; "),
    "ledger.field.violation": ("违法类型", "Violation"),
    "ledger.field.reason": ("理由", "Reason"),
    "ledger.field.deadline": ("整改期限", "Deadline"),
    "ledger.field.note": ("备注", "Note"),
    "ledger.field.event": ("事件", "Event"),
    "ledger.field.ts": ("事件时间", "Event time"),
    "ledger.field.why": ("起因", "Cause"),
    "ledger.field.seen_after_deadline": ("期限后再次发现", "Seen after the deadline"),
    "ledger.field.cleared_at": ("整改完成时间", "Cleared at"),
    "ledger.field.package_id": ("证据包", "Package"),
    "ledger.field.sequence": ("序号", "Seq"),
    "ledger.field.chain_gap": ("证据链序号缺口", "sequence gap in the device's chain"),
    "ledger.field.false_detection": (
        "误检（框记为难负样本）",
        "false detection (boxes kept as hard negatives)",
    ),
    "ledger.field.frame_id": ("样本帧", "Frame"),
    "ledger.field.username": ("账户", "User"),
    "ledger.field.role": ("角色", "Role"),
    "ledger.field.name": ("名称", "Name"),
    "ledger.field.key_fingerprint": ("公钥指纹", "Key fingerprint"),
    "ledger.field.proposal_id": ("屏蔽区建议", "Mask proposal"),
    "ledger.field.classes": ("目标类别", "Classes"),
    "ledger.field.dismissals": ("误检次数", "False detections"),
    "ledger.field.other": ("其他", "Other"),
    "ledger.why_value": ("{when} {event}", "{event} at {when}"),
    "ledger.yes": ("是", "yes"),
    "ledger.no": ("否", "no"),
    "ledger.items": ("{n} 项", "{n} item(s)"),
    "ledger.action_other": ("其他操作", "Other action"),
    # one's own account
    "account.title": ("修改密码", "Change password"),
    "account.current": ("当前密码", "Current password"),
    "account.new": ("新密码", "New password"),
    "account.repeat": ("再次输入新密码", "New password again"),
    "account.submit": ("修改", "Change"),
    "account.note": (
        "新密码至少 {n} 个字符，可用一句话；修改后其他已登录的会话将退出。",
        "At least {n} characters (a phrase is fine); your other sessions end when it changes.",
    ),
    "account.changed": ("密码已修改。", "Your password has been changed."),
    "account.required": (
        "管理员已重置您的密码：请先设置新密码再继续。",
        "An administrator reset your password: set a new one before you continue.",
    ),
    "account.missing": ("请填写当前密码和新密码。", "Enter the current and the new password."),
    "account.mismatch": ("两次输入的新密码不一致。", "The two new passwords differ."),
    "account.wrong_current": ("当前密码不正确。", "The current password is wrong."),
    "account.policy": (
        "新密码不符合要求：至少 {n} 个字符，不能是用户名，不能与当前密码相同。",
        "The new password is refused: at least {n} characters, not the user name, not the current one.",
    ),
    # queue
    "queue.title": ("待审队列", "Review queue"),
    "queue.filter": ("筛选", "Filter"),
    "queue.reset": ("清除", "Reset"),
    "queue.status": ("状态", "Status"),
    "queue.violation": ("违法类型", "Violation"),
    "queue.camera": ("摄像头", "Camera"),
    "queue.date": ("日期", "Date"),
    "queue.any": ("不限", "Any"),
    "queue.empty": ("没有符合条件的案件。", "No cases match."),
    "queue.more": ("下一页", "Next page"),
    "queue.first_page": ("第一页", "First page"),
    "queue.col.evidence": ("证据", "Evidence"),
    "queue.col.case": ("案件", "Case"),
    "queue.col.violation": ("违法类型", "Violation"),
    "queue.col.camera": ("摄像头", "Camera"),
    "queue.col.shop": ("商户", "Shop"),
    "queue.col.first_seen": ("首次发现", "First seen"),
    "queue.col.last_seen": ("最后发现", "Last seen"),
    "queue.col.sightings": ("目击次数", "Sightings"),
    "queue.col.status": ("状态", "Status"),
    "queue.no_thumb": ("无图", "no image"),
    "queue.bad_date": ("日期格式应为 YYYY-MM-DD。", "Dates are YYYY-MM-DD."),
    "queue.bad_filter": ("筛选条件无效：{detail}", "Invalid filter: {detail}"),
    # case page
    "case.title": ("案件 #{id}", "Case #{id}"),
    "case.back": ("返回队列", "Back to the queue"),
    "case.prev": ("上一条 (K)", "Previous (K)"),
    "case.next": ("下一条 (J)", "Next (J)"),
    "case.stills": ("证据照片", "Stills"),
    "case.show_raw": ("看原图", "Show raw"),
    "case.show_annotated": ("看标注图", "Show annotated"),
    "case.zone_overlay": ("显示区域", "Show zone"),
    "case.no_stills": ("没有证据照片。", "No stills."),
    "case.clip": ("视频片段", "Clip"),
    "case.no_clip": ("没有视频片段。", "No clip."),
    "case.clip_of": ("证据包 {package}", "package {package}"),
    "case.facts": ("案件信息", "Case facts"),
    "case.camera": ("摄像头", "Camera"),
    "case.zone": ("区域", "Zone"),
    "case.site": ("路段", "Site"),
    "case.first_seen": ("首次发现", "First seen"),
    "case.last_seen": ("最后发现", "Last seen"),
    "case.sightings": ("目击次数", "Sightings"),
    "case.hits": ("证据包", "Packages"),
    "case.detected": ("检测目标", "Detected"),
    "case.dwell": ("持续时长", "Dwell"),
    "case.dwell_min": ("{n} 分钟", "{n} min"),
    "case.model": ("识别模型", "Model"),
    "case.ocr": ("广告文字（OCR）", "Ad text (OCR)"),
    "case.ocr_phones": ("电话", "Phones"),
    "case.zoom_close": ("关闭 (Esc)", "Close (Esc)"),
    "case.original_violation": ("设备原判：{v}", "Device reported: {v}"),
    "case.reviewed": ("{who} 于 {when} 审核", "Reviewed by {who} at {when}"),
    "case.reason": ("理由", "Reason"),
    "case.deadline": ("整改期限", "Deadline"),
    "case.flags": ("标记", "Flags"),
    "case.flag.chain_gap": ("证据链序号缺口", "sequence gap in the device's chain"),
    "case.timeline": ("目击时间线", "Timeline of sightings"),
    "case.tl.time": ("时间", "Time"),
    "case.tl.event": ("事件", "Event"),
    "case.tl.device": ("设备", "Device"),
    "case.tl.seq": ("序号", "Seq"),
    "case.tl.signed": ("签名", "Signed"),
    "case.tl.files": ("文件", "Files"),
    "case.tl.hidden": ("…… 另有 {n} 条未显示", "… {n} more not shown"),
    "case.ledger.hidden": ("…… 更早的 {n} 条记录未显示", "… {n} earlier entries not shown"),
    "case.more": ("查看更早的", "Show earlier"),
    "case.more_earlier": ("← 更早的记录", "← Earlier"),
    "case.signed_yes": ("已验签", "verified"),
    "case.signed_no": ("无签名", "unsigned"),
    "case.gap": ("缺口", "gap"),
    "case.party": ("当事人（商户）", "Party (shop)"),
    "case.no_party": ("未关联商户（按摄像头区域立案）。", "No shop linked (filed by camera zone)."),
    "case.shop.code": ("一店一码", "Shop code"),
    "case.shop.license": ("营业执照", "Licence"),
    "case.shop.address": ("地址", "Address"),
    "case.shop.contact": ("联系方式", "Contact"),
    "case.legal": ("法律依据", "Legal basis"),
    "case.no_legal": ("未配置法律依据。", "No legal basis configured."),
    "case.legal.article": ("条款", "Article"),
    "case.legal.penalty": ("罚款幅度", "Penalty"),
    "case.legal.penalty_range": ("{min}–{max} 元", "{min}–{max} yuan"),
    "case.legal.penalty_none": ("未查到", "not found"),
    "case.legal.source": ("来源", "Source"),
    "case.legal.unverified": ("未核实 · 未经法制部门审核", "unverified: not checked by the legal office"),
    "case.legal.verified": ("已核实", "verified"),
    "case.history": ("商户违法记录", "Shop history"),
    "case.first_offence": ("首次违法（可考虑免罚清单）", "First offence (leniency list may apply)"),
    "case.repeat_offence": ("非首次违法", "Not a first offence"),
    "case.prior_cases": ("既往案件 {n} 起", "{n} prior case(s)"),
    "case.no_history": ("无商户，无记录。", "No shop, no history."),
    "case.ledger": ("操作记录（台账）", "Ledger entries"),
    "case.ledger.seq": ("序号", "Seq"),
    "case.ledger.time": ("时间", "Time"),
    "case.ledger.actor": ("操作者", "Actor"),
    "case.ledger.action": ("操作", "Action"),
    "case.ledger.detail": ("内容", "Detail"),
    "case.ledger.hash": ("哈希", "Hash"),
    "case.actions": ("审核操作", "Actions"),
    "case.no_actions": ("此状态下无可用操作。", "No actions in this status."),
    "case.confirm": ("确认违法 (C)", "Confirm (C)"),
    "case.correct_to": ("更正违法类型", "Correct the violation"),
    "case.correct_keep": ("不更正", "keep as reported"),
    "case.dismiss": ("驳回 (D)", "Dismiss (D)"),
    "case.dismiss_reason": ("驳回理由（必填）", "Reason to dismiss (required)"),
    "case.common_reasons": ("常用理由（一键驳回）", "Common reasons (one click dismisses)"),
    "case.notice": ("发出整改告知", "Issue a notice"),
    "case.notice_deadline": ("整改期限", "Correct by"),
    "case.notice_note": ("备注", "Note"),
    "case.notice_submit": ("发出告知", "Issue notice"),
    "case.notice_presets": ("快捷期限", "Quick deadlines"),
    "case.preset.2h": ("2 小时", "2 hours"),
    "case.preset.24h": ("24 小时", "24 hours"),
    "case.preset.3d": ("3 天", "3 days"),
    "case.preset.7d": ("7 天", "7 days"),
    "case.tz_note": ("时间为 {tz}", "Times in {tz}"),
    # dismiss reasons (stored in the ledger in Chinese, the language of the record)
    # 误检: the detector saw an object that is not there (hard negatives; may propose a mask)
    "reason.false_detection": ("误检：画面中无此目标", "False detection: no such object"),
    # 非违规: the object is real but no violation (a permitted stall, an event): teaches nothing
    "reason.not_violation": ("非违规：目标属实但不违规", "Not a violation: the object is real"),
    "reason.permitted_hours": ("外摆位许可时段", "Permitted outdoor-trading hours"),
    "reason.self_corrected": ("已自行整改", "Already corrected by the shop"),
    "reason.unclear": ("画面不清", "Image unclear"),
    # the one common reason recorded before 误检 and 非违规 were told apart (never offered again)
    "reason_legacy.false_detection": ("非违规/误检", "Not a violation / false detection"),
    # outcomes (flash after a redirect)
    "done.confirmed": ("已确认案件 #{id}。", "Case #{id} confirmed."),
    "done.dismissed": ("已驳回案件 #{id}。", "Case #{id} dismissed."),
    "done.notice_issued": ("已对案件 #{id} 发出告知。", "Notice issued for case #{id}."),
    # errors
    "err.title": ("出错了", "Something went wrong"),
    "err.csrf": (
        "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。",
        "The form expired or came from elsewhere (CSRF check failed); reload the page and try again.",
    ),
    "err.forbidden": ("账户角色“{role}”不能使用审核台。", "Role “{role}” may not use the console."),
    "err.not_found": ("案件 #{id} 不存在。", "Case #{id} does not exist."),
    "err.page_not_found": ("页面不存在。", "Page not found."),
    "err.reason_required": ("驳回必须填写理由。", "A reason is required to dismiss."),
    "err.reason_too_long": ("理由过长（最多 {n} 字）。", "The reason is too long (at most {n} characters)."),
    "err.bad_decision": ("未知的审核决定。", "Unknown review decision."),
    "err.bad_violation": ("未知的违法类型：{v}", "Unknown violation type: {v}"),
    "err.bad_reason_code": ("未知的常用理由。", "Unknown common reason."),
    "err.bad_deadline": ("整改期限格式无效。", "The deadline is not a valid date and time."),
    "err.deadline_past": ("整改期限必须晚于现在。", "The deadline must be in the future."),
    "err.state": (
        "操作未执行：案件当前为“{status}”，不能执行此操作（可能已被他人处理）。",
        "Not done: the case is now “{status}”; this action no longer applies (someone may have handled it).",
    ),
    "err.violation_on_dismiss": (
        "操作未执行：只有确认违法时才能更正违法类型，驳回时请选“不更正”。",
        "Not done: the violation can only be corrected when confirming; choose “keep as reported” to dismiss.",
    ),
    "err.bad_cursor": (
        "翻页位置无效，已显示第一页。",
        "That page link is no longer valid; showing the first page.",
    ),
    # the service's refusals by HTTP status (its own English words go to the detail and the log)
    "err.service.400": (
        "操作未执行：请求无法识别，请刷新页面后重试。",
        "Not done: the request was not understood; reload the page and try again.",
    ),
    "err.service.401": (
        "操作未执行：登录已失效，请重新登录。",
        "Not done: your session has ended; sign in again.",
    ),
    "err.service.403": ("操作未执行：当前账户无权执行此操作。", "Not done: your account may not do this."),
    "err.service.409": (
        "操作未执行：与案件当前状态冲突（可能已被他人处理），请刷新页面。",
        "Not done: it clashes with the case's current status (someone may have handled it); reload the page.",
    ),
    "err.service.413": ("操作未执行：提交的内容过大。", "Not done: what was sent is too large."),
    "err.service.415": (
        "操作未执行：提交的内容类型不受支持。",
        "Not done: that kind of content is not accepted.",
    ),
    "err.service.422": (
        "操作未执行：输入未通过校验，请检查后重试。",
        "Not done: the input did not pass the checks; check it and try again.",
    ),
    "err.service.503": (
        "操作未执行：数据库或证据存储暂时不可用，请稍后重试。",
        "Not done: the database or the evidence store is unavailable right now; try again shortly.",
    ),
    "err.service.other": (
        "操作未执行：服务拒绝了此操作（HTTP {status}）。",
        "Not done: the service refused this (HTTP {status}).",
    ),
    "err.detail": ("技术详情", "Technical detail"),
    "err.back": ("返回", "Back"),
    **LABELLING,  # labelling (/label): service/console/messages_labelling.py
    **MASKS,  # learned masks (/masks): service/console/messages_masks.py
    **MODELS,  # model releases (ledger): service/console/messages_models.py
    **THRESHOLDS,  # score-threshold proposals (dashboard): messages_thresholds.py
    **DEVICES,  # fleet health (/devices) and the case page's clock warning: messages_devices.py
    **ROLLOUTS,  # rollouts (ledger, /rollouts): service/console/messages_rollouts.py
    **NOTIFY,  # notices' messages (ledger, case flag): service/console/messages_notify.py
    **EVIDENCE,  # evidence, place, legal basis and class names: messages_evidence.py
    **SHOPS,  # the shops page (/shops): service/console/messages_shops.py
    **SHOP_PAGE,  # the shop page (/s/<token>), QR codes, public copies: messages_shop_page.py
    **DESK,  # the review desk: service/console/messages_desk.py
    **ZONES,  # the zone editor (/zones): service/console/messages_zones.py
    # how a frame was labelled
    "labelhow.label": ("人工标注", "labelled"),
    "labelhow.review_confirm": ("审核确认", "review confirmed"),
    "labelhow.review_dismiss": ("审核驳回（误报）", "review dismissed (false detection)"),
    # words label.js shows ({…} filled in by the script)
    "labeljs.loading": ("正在加载…", "Loading…"),
    "labeljs.empty": (
        "没有符合条件的帧了。可换一个筛选条件，或刷新页面从头开始（含跳过的帧）。",
        "No more frames here. Choose another filter, or reload the page to start again (skipped frames included).",
    ),
    "labeljs.frame": ("帧 #{id}", "Frame #{id}"),
    "labeljs.source.sample": ("边缘抽样", "edge sample"),
    "labeljs.source.import": ("导入", "imported"),
    "labeljs.source.case": ("案件截图", "case still"),
    "labeljs.prefill.labels": ("已载入最近一次标注", "The latest labels are loaded"),
    "labeljs.prefill.detections": (
        "已载入模型检测结果，请核对",
        "The model's detections are loaded: check them",
    ),
    "labeljs.prefill.none": ("模型未检测到目标", "The model found nothing here"),
    "labeljs.negative_hint": (
        "虚线：审核认定的误报（保存后不保留）",
        "Dashed: a review's false detection (not kept on save)",
    ),
    "labeljs.no_boxes": ("无框（保存即为无目标）", "No boxes (saving marks the frame as empty)"),
    "labeljs.next_class": ("新框类别：{cls}", "Next box: {cls}"),
    "labeljs.saved": ("已保存帧 #{id}（{n} 个框）", "Saved frame #{id} ({n} boxes)"),
    "labeljs.saved_negative": ("已保存帧 #{id}：无目标", "Saved frame #{id}: no objects"),
    "labeljs.skipped": ("已跳过帧 #{id}", "Skipped frame #{id}"),
    "labeljs.no_history": ("尚无标注记录", "Not labelled yet"),
    "labeljs.history_row": ("{when} · {who} · {how} · {n} 个框", "{when} · {who} · {how} · {n} boxes"),
    "labeljs.current": ("当前有效", "counts"),
    "labeljs.incomplete": ("（不完整）", " (incomplete)"),
    "labeljs.error": ("未保存：{detail}", "Not saved: {detail}"),
    "labeljs.load_error": ("加载失败：{detail}", "Could not load: {detail}"),
    "labeljs.http": ("HTTP {status}", "HTTP {status}"),
    # supervisors and admins (audit log, users, export, dashboard): service/console/messages_admin.py
    **ADMIN,
}


def translate(lang: Lang, key: str, **values: object) -> str:
    """The label for ``key`` in ``lang``; raises KeyError for an unknown key."""
    zh, en = CATALOGUE[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def translate_or(lang: Lang, key: str, default: str, **values: object) -> str:
    """The label for ``key`` in ``lang``, or ``default`` where the catalogue has no such key (a value
    recorded by a newer service, say)."""
    return translate(lang, key, **values) if key in CATALOGUE else default


def pick_lang(value: str | None) -> Lang | None:
    """``zh``/``zh-CN``/``en`` (any case) → a supported language, else None."""
    if not value:
        return None
    v = value.strip().lower()
    if v in ("en", "en-us", "en-gb"):
        return "en"
    if v in ("zh", "zh-cn", "zh-hans", "cn"):
        return "zh-CN"
    return None
