"""The console's words for supervisors and admins: the audit log (审计日志, /audit:
service/console/audit.py), user management (/admin/users: service/console/users.py), the export
button (service/console/case_export.py) and the dashboard (service/console/dashboard.py), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

ADMIN: Final[dict[str, tuple[str, str]]] = {
    "nav.audit": ("审计日志", "Audit log"),
    "nav.users": ("用户管理", "Users"),
    # the audit log
    "audit.title": ("审计日志", "Audit log"),
    "audit.intro": (
        "全部台账记录（全过程记录），最新的在前；每条记录的哈希链接前一条。",
        "Every ledger entry (全过程记录), newest first; each entry's hash links to the previous one.",
    ),
    "audit.chain_ok": (
        "哈希链完整：共 {n} 条记录，链头哈希 {head}。",
        "Chain intact: {n} entries, head hash {head}.",
    ),
    "audit.checked_at": (
        "（整链于 {when} 全部校验，其后新增记录逐条校验）",
        "(whole chain verified at {when}; entries since, one by one)",
    ),
    "audit.chain_broken": (
        "哈希链已损坏：第 {seq} 条起无法验证（{reason}）。",
        "Chain broken at entry {seq}: {reason}.",
    ),
    "audit.action": ("操作类型", "Action"),
    "audit.actor": ("操作者", "Actor"),
    "audit.case": ("案件编号", "Case id"),
    "audit.date": ("日期", "Date"),
    "audit.any": ("不限", "Any"),
    "audit.filter": ("筛选", "Filter"),
    "audit.reset": ("清除", "Reset"),
    "audit.empty": ("没有符合条件的记录。", "No entries match."),
    "audit.more": ("更早的记录", "Older entries"),
    "audit.first": ("最新的记录", "Newest entries"),
    "audit.download": ("下载这些记录（JSON Lines）", "Download these entries (JSON Lines)"),
    "audit.forbidden": (
        "只有主管和管理员可以查看审计日志（当前角色“{role}”）。",
        "Only a supervisor or an admin may read the audit log (your role: “{role}”).",
    ),
    "audit.bad_filter": ("筛选条件无效：{detail}", "Invalid filter: {detail}"),
    # users
    "users.title": ("用户管理", "Users"),
    "users.forbidden": (
        "只有管理员可以管理账户（当前角色“{role}”）。",
        "Only an admin may manage accounts (your role: “{role}”).",
    ),
    "users.col.username": ("用户名", "Username"),
    "users.col.role": ("角色", "Role"),
    "users.col.state": ("状态", "State"),
    "users.col.sessions": ("在线会话", "Sessions"),
    "users.col.created": ("创建时间", "Created"),
    "users.col.actions": ("操作", "Actions"),
    "users.enabled": ("启用", "enabled"),
    "users.disabled": ("已停用", "disabled"),
    "users.must_change": ("待改密码", "must change password"),
    "users.disable": ("停用", "Disable"),
    "users.enable": ("启用", "Enable"),
    "users.reset": ("重置密码", "Reset password"),
    "users.add": ("新增账户", "Add a person"),
    "users.password": ("初始密码", "Initial password"),
    "users.repeat": ("再次输入", "Again"),
    "users.add_submit": ("新增", "Add"),
    "users.add_note": (
        "初始密码至少 {n} 个字符；请当面或电话告知本人，本页不会再显示。",
        "At least {n} characters; tell the person yourself: this page never shows it again.",
    ),
    "users.temp_title": (
        "{user} 的临时密码（只显示这一次）",
        "Temporary password of {user} (shown this once)",
    ),
    "users.temp_note": (
        "请当面或电话告知本人；其登录后必须先设置新密码。其所有会话已退出。刷新本页不会再显示此密码。",
        "Tell the person yourself; they must set a new one at their next sign-in. Their sessions have "
        "ended. Reloading this page never shows it again.",
    ),
    "users.done.added": ("已新增账户 {user}。", "{user} added."),
    "users.done.disabled": (
        "已停用账户 {user}（结束 {n} 个会话）。",
        "{user} disabled ({n} session(s) ended).",
    ),
    "users.done.enabled": ("已启用账户 {user}。", "{user} enabled."),
    "users.err.not_found": ("账户 {user} 不存在。", "There is no user {user}."),
    "users.err.exists": ("账户 {user} 已存在。", "{user} exists already."),
    "users.err.self": ("不能停用自己的账户。", "You cannot disable your own account."),
    "users.err.invalid": ("未新增：{detail}", "Not added: {detail}"),
    "users.err.mismatch": ("两次输入的密码不一致。", "The two passwords differ."),
    # the export button on the case page
    "export.title": ("移送办案系统", "Export to the case system"),
    "export.button": ("导出证据包（zip）", "Export the evidence (zip)"),
    "export.note": (
        "导出包含证据清单、中文说明和设备公钥，可用 nce evidence verify 离线核验；导出记入台账，已确认/已升级的案件将变为“已移送”。",
        "The zip holds the evidence list, a Chinese README and the device keys, verifiable offline with "
        "nce evidence verify; the export is a ledger entry, and a confirmed or escalated case becomes exported.",
    ),
    # the dashboard
    "dash.title": ("统计", "Dashboard"),
    "dash.window": ("最近 {days} 天", "Last {days} days"),
    "dash.per_day": ("每日案件数（按违法类型）", "Cases per day, by violation"),
    "dash.rate_camera": ("各摄像头确认率", "Confirm rate per camera"),
    "dash.rate_rule": ("各规则确认率（违法类型 · 区域）", "Confirm rate per rule (violation · zone)"),
    "dash.rate_class": ("各检测类别确认率", "Confirm rate per detected class"),
    "dash.rate_note": (
        "确认率 = 已确认（含后续状态）÷ 已审核；低确认率即误报多，需调整区域、阈值或模型。",
        "Confirm rate = confirmed (or later) ÷ reviewed; a low rate means false alarms: "
        "tune the zone, the thresholds or the model.",
    ),
    "dash.reviewed": ("已审 {n}", "{n} reviewed"),
    "dash.no_data": ("暂无数据。", "No data yet."),
    "dash.activity": ("最近动态", "Recent activity"),
    "dash.total": ("合计", "total"),
    "dash.throughput": ("值班员审核量", "Reviews per operator"),
    "dash.tp.who": ("审核人", "Reviewer"),
    "dash.tp.today": ("今日", "Today"),
    "dash.tp.week": ("近 7 天", "Last 7 days"),
    "dash.tp.confirmed": ("确认", "Confirmed"),
    "dash.tp.dismissed": ("驳回", "Dismissed"),
    "dash.tp.median": ("立案到审核（中位数）", "Case to review (median)"),
    "dash.tp.note": (
        "按台账中的审核记录统计（近 7 天，今日按本地日期）；时长为案件创建到审核。",
        "From the ledger's review entries (last 7 days; today is the local day); the time is from the "
        "case's creation to its review.",
    ),
    "dash.minutes": ("{n} 分钟", "{n} min"),
    "dash.hours": ("{n} 小时", "{n} h"),
}
