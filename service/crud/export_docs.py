"""The documents of a case export for people: ``README.zh-CN.txt`` (what is inside, how to verify it
offline, in Chinese) and ``证据清单.html`` (the printable evidence list: case, party, legal basis,
stills, every file's SHA-256, the reviewer and the times; print CSS, no external resources: the stills
are relative links into the zip's own ``packages/`` folders).

Both are written before the export's ledger entry, whose ``members`` records their SHA-256 as it
records every package file's, so ``nce evidence verify`` checks them like the evidence. Neither names
the export entry's own hash (it does not exist yet): the 清单 names the zip's ``ledger.json`` for it.
Words are the console's catalogue (zh-CN), the one place the vocabulary is translated.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from nce.case_export import CHECKPOINT, DEVICES_INDEX, EVIDENCE_LIST, LEDGER_JSON, README_ZH, SERVICE_KEY
from service.schemas.cases import CasePublic

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DocFile:
    """A package file as the documents list it."""

    path: str  # the zip member
    role: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DocStill:
    moment: str
    frame_utc: str  # as the manifest records it (ISO 8601, UTC)
    raw: str  # the zip member of the raw frame
    annotated: str | None


@dataclass(frozen=True)
class DocInput:
    zip_name: str
    service_fingerprint: str
    case: CasePublic
    party: dict[str, Any] | None
    basis: dict[str, Any] | None
    files: Sequence[DocFile]
    stills: Sequence[DocStill]
    devices: dict[str, tuple[str, str]]  # device id -> (key file, fingerprint)
    exporter: str
    exported_at: dt.datetime


def _zh(kind: str, value: str | None) -> str:
    # imported here: the console package imports its pages, one of which imports the export
    from service.console.messages import translate_or

    return "—" if value is None else translate_or("zh-CN", f"{kind}.{value}", value)


def _when(t: dt.datetime | None) -> str:
    return "—" if t is None else t.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")


README_ZH_TEXT = """非现场执法案件导出包（案件 #{case_id}）

一、包内文件
  {evidence_list}          证据清单（可直接用浏览器打开并打印）
  README.txt / README.zh-CN.txt  说明（英文 / 中文）
  case.json                案件详情（状态、当事人、法律依据、目击记录、操作记录）
  {ledger_json}              本案全部操作记录（哈希链），最后一条为本次导出记录
  packages/<设备>-<序号>/  边缘设备签名的原始证据包：manifest.json 及其列出的照片、视频
  public/…                 公开副本（人脸、车牌已打码），如有
  devices/<设备>.pub       各设备登记的 Ed25519 公钥（PEM）
  {devices_index}       各设备公钥的指纹（公钥原始 32 字节的 SHA-256）
  {service_key}  服务端签名公钥
  {checkpoint}  导出时签发的透明日志检查点
  transparency/inclusion/  每个证据包在透明日志中的包含证明

二、离线核验（无需网络，无需其他案件的证据）

    nce evidence verify {zip_name} --service-key {fingerprint}

  {fingerprint}
  为服务端公钥指纹，请与主管部门公布的指纹（nce ledger publish-key）逐位核对。
  该命令核验：
  1. 每个证据包的 manifest 签名与 devices/ 中登记的设备公钥相符，公钥指纹与
     {devices_index} 一致；每个文件的大小和 SHA-256 与 manifest 相符，无缺失、无多余；
  2. 每个证据包都已记入服务端透明日志：包含证明指向服务端签名的检查点；
  3. 检查点记录的台账头就是本次导出记录（{ledger_json} 最后一条），其 members 列出包内
     每个证据文件及本说明、证据清单的 SHA-256：任何文件被增删或改动都会被发现；
  4. 各证据包在设备哈希链中的位置（序号及与前一包的链接）。

  各设备公钥指纹：
{device_lines}

三、说明
  证据清单中的哈希与 manifest、导出记录中的哈希一致；照片以相对路径引用包内原图，
  解压后用浏览器打开证据清单即可显示。打印时请使用浏览器的“打印”功能。
  导出人：{exporter}，导出时间：{exported_at}（北京时间）。
"""


def readme_zh(d: DocInput) -> str:
    lines = [f"    {device}: {fp}  ({key_file})" for device, (key_file, fp) in sorted(d.devices.items())]
    return README_ZH_TEXT.format(
        case_id=d.case.id,
        evidence_list=EVIDENCE_LIST,
        ledger_json=LEDGER_JSON,
        devices_index=DEVICES_INDEX,
        service_key=SERVICE_KEY,
        checkpoint=CHECKPOINT,
        zip_name=d.zip_name,
        fingerprint=d.service_fingerprint,
        device_lines="\n".join(lines) or "    （无）",
        exporter=d.exporter,
        exported_at=_when(d.exported_at),
    )


CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em;color:#111}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.4em}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{border:1px solid #999;padding:.25em .5em;
text-align:left;vertical-align:top;font-size:.92em}th{background:#eee;width:9em}
code,.hash{font-family:"DejaVu Sans Mono",monospace;font-size:.8em;word-break:break-all}
.stills{display:flex;flex-wrap:wrap;gap:.6em}figure{margin:0;width:48%;break-inside:avoid}
figure img{width:100%;border:1px solid #999}figcaption{font-size:.85em}
.sign{margin-top:2em;display:flex;gap:4em}.muted{color:#555;font-size:.85em}
@media print{body{margin:0}h2{break-after:avoid}tr,figure{break-inside:avoid}@page{size:A4;margin:15mm}}
"""


def _rows(pairs: Sequence[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)


def _party(party: dict[str, Any] | None) -> str:
    if party is None:
        return "<p>未关联商户（按摄像头区域立案）。</p>"
    names = (
        ("name", "名称"), ("code", "一店一码"), ("license_no", "营业执照"), ("address", "地址"),
        ("contact", "联系方式"), ("shop_id", "商户编号"),
    )  # fmt: skip
    return f"<table>{_rows([(label, party[k]) for k, label in names if party.get(k)])}</table>"


def _basis(basis: dict[str, Any] | None) -> str:
    if basis is None:
        return "<p>未配置法律依据。</p>"
    row = basis.get("basis") or {}
    pairs: list[tuple[str, object]] = [
        ("依据表", f"{basis.get('id')}（{basis.get('jurisdiction')}，{basis.get('version')}）")
    ]
    for key, label in (("regulation", "法规"), ("article", "条款")):
        if row.get(key) is not None:
            pairs.append((label, row[key]))
    penalty = row.get("penalty")
    if isinstance(penalty, dict):
        pairs.append(("罚款幅度", f"{penalty.get('min_yuan')}–{penalty.get('max_yuan')} 元"))
    for key, label in (("note", "说明"), ("source", "来源")):
        if row.get(key):
            pairs.append((label, row[key]))
    if row.get("verified") is not None:
        pairs.append(("核实", "已核实" if row["verified"] else "未核实"))
    return f"<table>{_rows(pairs)}</table>"


def _stills(stills: Sequence[DocStill]) -> str:
    if not stills:
        return "<p>没有证据照片。</p>"
    out = []
    for s in stills:
        src = html.escape(s.annotated or s.raw)
        caption = f"{_zh('moment', s.moment)} · {_when(dt.datetime.fromisoformat(s.frame_utc))} · {s.raw}"
        out.append(
            f'<figure><img src="{src}" alt="{html.escape(s.raw)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        )
    return f'<div class="stills">{"".join(out)}</div>'


def _files(files: Sequence[DocFile]) -> str:
    head = "<tr><th>文件</th><th>类型</th><th>字节</th><th>SHA-256</th></tr>"
    body = "".join(
        f"<tr><td><code>{html.escape(f.path)}</code></td><td>{html.escape(f.role)}</td><td>{f.size}</td>"
        f'<td class="hash">{f.sha256}</td></tr>'
        for f in files
    )
    return f"<table>{head}{body}</table>"


def evidence_list(d: DocInput) -> str:
    """The printable 证据清单 (one HTML file, its own CSS, no script, nothing fetched from elsewhere)."""
    c = d.case
    case_rows: list[tuple[str, object]] = [
        ("案件编号", f"#{c.id}"),
        ("违法类型", _zh("violation", c.violation)),
        ("状态（导出前）", _zh("status", c.status)),
        ("路段 / 摄像头 / 区域", f"{c.site_id} / {c.camera_id} / {c.zone_id}"),
        ("首次发现", _when(c.first_seen)),
        ("最后发现", _when(c.last_seen)),
        ("目击次数", c.sightings),
    ]
    if c.original_violation:
        case_rows.append(("设备原判", _zh("violation", c.original_violation)))
    review_rows: list[tuple[str, object]] = [
        ("审核人", c.reviewed_by or "—"),
        ("审核时间", _when(c.reviewed_at)),
        ("告知时间", _when(c.notice_issued_at)),
        ("整改期限", _when(c.notice_deadline)),
        ("导出人", d.exporter),
        ("导出时间", _when(d.exported_at)),
    ]
    device_rows = [
        (f"设备 {dev}", f"{fp}（{key_file}）") for dev, (key_file, fp) in sorted(d.devices.items())
    ]
    device_rows.append(("服务端公钥", f"{d.service_fingerprint}（{SERVICE_KEY}）"))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>证据清单 · 案件 #{c.id}</title>
<style>{CSS}</style></head><body>
<h1>证据清单 · 案件 #{c.id}</h1>
<p class="muted">时间均为北京时间（Asia/Shanghai）。照片引用本导出包内的原始文件；核验方法见 {README_ZH}。</p>
<h2>案件</h2><table>{_rows(case_rows)}</table>
<h2>当事人（商户）</h2>{_party(d.party)}
<h2>法律依据</h2>{_basis(d.basis)}
<h2>审核与导出</h2><table>{_rows(review_rows)}</table>
<h2>证据照片</h2>{_stills(d.stills)}
<h2>证据文件及 SHA-256</h2>{_files(d.files)}
<h2>公钥指纹</h2><table>{_rows(device_rows)}</table>
<p class="muted">本清单及每个证据文件的 SHA-256 记录在本次导出的台账记录（{LEDGER_JSON} 最后一条）中，
可用 <code>nce evidence verify {html.escape(d.zip_name)} --service-key {d.service_fingerprint}</code> 离线核验。</p>
<div class="sign"><span>核对人签字：__________</span><span>日期：__________</span></div>
</body></html>
"""
