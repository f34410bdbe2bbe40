"""The words of the shop page (一店一码, ``/s/<token>``: service/shop_page.py) and of the console's
parts about it (QR codes on /shops, public copies and the shop's responses on a case page), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

SHOP_PAGE: Final[dict[str, tuple[str, str]]] = {
    "shop.title": ("{name} · 整改通知", "{name} · notices"),
    "shop.intro": (
        "这是城管执法部门为本店发出的整改通知。请按期限整改，可上传整改照片，或提交陈述申辩。",
        "These are the city-management notices for this shop. Correct them by the deadline; you may "
        "upload correction photos or submit a statement.",
    ),
    "shop.none": ("本店目前没有未结的整改通知。", "This shop has no open notice."),
    "shop.case": ("案件 #{id}", "Case #{id}"),
    "shop.violation": ("问题", "Problem"),
    "shop.issued": ("通知时间", "Notice issued"),
    "shop.deadline": ("整改期限", "Deadline"),
    "shop.deadline_passed": ("（已过期限）", "(passed)"),
    "shop.basis": ("法律依据", "Legal basis"),
    "shop.penalty": ("处罚", "Penalty"),
    "shop.unverified": (
        "未核实：此法律依据尚未经法制部门审核，仅供参考。",
        "Not verified: the legal office has not checked this basis yet; for reference only.",
    ),
    "shop.no_basis": ("暂无", "none"),
    "shop.evidence": ("现场照片（人脸、车牌已模糊处理）", "Photos (faces and plates blurred)"),
    "shop.preparing": (
        "证据正在准备中，审核后在此显示。",
        "The evidence is being prepared; it shows here once reviewed.",
    ),
    "shop.photo": ("上传整改照片", "Upload a correction photo"),
    "shop.photo_hint": (
        "仅限 JPEG 或 PNG，最大 {mb} MB，每个案件最多 {n} 张。",
        "JPEG or PNG only, at most {mb} MB, at most {n} per case.",
    ),
    "shop.photo_submit": ("上传照片", "Upload"),
    "shop.statement": ("陈述申辩", "Statement and defence"),
    "shop.statement_hint": (
        "最多 {n} 字，每个案件最多提交 {k} 次。",
        "At most {n} characters, at most {k} per case.",
    ),
    "shop.statement_submit": ("提交陈述申辩", "Submit"),
    "shop.sent": ("已提交", "Sent"),
    "shop.sent_photo": ("整改照片", "Correction photo"),
    "shop.sent_statement": ("陈述申辩", "Statement"),
    "shop.done.photo": (
        "整改照片已上传，执法人员将在案件中看到。",
        "Photo uploaded; the officers see it on the case.",
    ),
    "shop.done.statement": (
        "陈述申辩已提交，执法人员将在案件中看到。",
        "Statement sent; the officers see it on the case.",
    ),
    "shop.footer": ("此链接仅供本店使用，请勿转发。", "This link is for this shop only; do not share it."),
    "shop.404": ("页面不存在", "Not found"),
    "shop.404_text": (
        "此链接无效或已更换。请扫描店门上最新的二维码，或联系城管执法部门。",
        "This link is not valid or was replaced. Scan the latest QR code, or contact the city-management office.",
    ),
    "shop.err.empty": ("未保存：照片是空文件（0 字节）。", "Not saved: the photo is empty (0 bytes)."),
    "shop.err.too_big": ("未保存：照片超过 {mb} MB 上限。", "Not saved: the photo is larger than {mb} MB."),
    "shop.err.type": (
        "未保存：只接受 JPEG 或 PNG 照片（此文件的内容是 {found}）。",
        "Not saved: only JPEG or PNG photos are accepted (this file is {found}).",
    ),
    "shop.err.declared": (
        "未保存：文件类型与内容不符（须为 JPEG 或 PNG 照片）。",
        "Not saved: the file's type does not match its content (must be a JPEG or PNG photo).",
    ),
    "shop.err.broken": (
        "未保存：照片已损坏或无法识别（{why}）。",
        "Not saved: the photo is damaged ({why}).",
    ),
    "shop.err.small": (
        "未保存：照片太小（每边至少 {side} 像素）。",
        "Not saved: the photo is too small (at least {side} px a side).",
    ),
    "shop.err.polyglot": (
        "未保存：照片文件末尾附带了其他数据，不是单纯的图片。",
        "Not saved: the file carries other data after the image; it is not a plain photo.",
    ),
    "shop.err.too_many_photos": (
        "未保存：本案已上传 {n} 张整改照片，已达上限。",
        "Not saved: this case has {n} photos already (the most).",
    ),
    "shop.err.statement_empty": ("未提交：陈述申辩不能为空。", "Not sent: the statement is empty."),
    "shop.err.statement_long": (
        "未提交：陈述申辩超过 {n} 字。",
        "Not sent: the statement is longer than {n} characters.",
    ),
    "shop.err.statement_chars": (
        "未提交：陈述申辩含有控制字符。",
        "Not sent: the statement holds control characters.",
    ),
    "shop.err.too_many_statements": (
        "未提交：本案已提交 {n} 次陈述申辩，已达上限。",
        "Not sent: this case has {n} statements already (the most).",
    ),
    # the console: /shops (QR codes) and the case page (public copies, the shop's responses)
    "shops.col.qr": ("店铺二维码", "Shop QR code"),
    "shops.qr_svg": ("A6 卡片（SVG）", "A6 card (SVG)"),
    "shops.qr_pdf": ("PDF（85 mm）", "PDF (85 mm)"),
    "shops.rotate": ("更换链接", "New link"),
    "shops.rotate_confirm": (
        "更换后旧二维码失效，需重新张贴。",
        "The old QR code stops working; post the new one.",
    ),
    "shops.rotated": (
        "店铺 {id} 的链接已更换，请打印新二维码。",
        "Shop {id} has a new link; print its new QR code.",
    ),
    "shops.qr_caption": ("扫码查看本店整改通知", "Scan for this shop's notices"),
    "case.shop_side": ("公开副本与当事人回应", "Public copy and the shop's responses"),
    "case.public_none": (
        "尚未生成公开副本（人脸、车牌模糊）。",
        "No public copy yet (faces and plates blurred).",
    ),
    "case.public_make": ("生成公开副本", "Make the public copy"),
    "case.public_pending": (
        "{n} 张待审核：店铺页面显示前须人工审核。",
        "{n} waiting for review: a person reviews them before the shop page shows them.",
    ),
    "case.public_approve": ("公开副本已审核", "Public copy reviewed"),
    "case.public_approved": ("{n} 张已审核，店铺页面可见。", "{n} reviewed, shown on the shop page."),
    "case.public_failed": ("公开副本操作未执行：{why}", "Public copy: not done: {why}"),
    "case.public_job_pending": (
        "已申请生成公开副本（{when}，{who}），后台任务稍后完成，请稍后刷新。",
        "Public copy requested ({when}, {who}); a background job makes it shortly: reload later.",
    ),
    "case.public_job_done": ("公开副本已生成（{when}）。", "Public copy made ({when})."),
    "case.public_job_failed": ("公开副本生成失败（{when}）：{why}", "Public copy failed ({when}): {why}"),
    "action.public_copy_requested": ("申请生成公开副本", "public copy requested"),
    "case.shop_none": ("当事人尚未通过店铺页面回应。", "The shop has not responded through its page."),
    "case.shop_statement": ("陈述申辩", "Statement"),
    "case.shop_photo": ("整改照片", "Correction photo"),
    "ledger.field.statement": ("陈述申辩", "Statement"),
    "ledger.field.generation": ("链接代次", "Link generation"),
    "action.shop_responded": ("当事人陈述申辩", "shop statement"),
    "action.correction_uploaded": ("当事人上传整改照片", "correction photo uploaded"),
    "action.shop_link_created": ("店铺链接生成", "shop link created"),
    "action.shop_link_rotated": ("店铺链接更换", "shop link rotated"),
    "action.public_copy_made": ("生成公开副本", "public copy made"),
    "action.public_copy_failed": ("公开副本生成失败", "public copy failed"),
    "action.public_copy_approved": ("公开副本已审核", "public copy reviewed"),
}
