"""The console's words for the zone editor (区域编辑, /zones: service/console/zones.py), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

ZONES: Final[dict[str, tuple[str, str]]] = {
    "nav.zones": ("区域编辑", "Zones"),
    "zones.title": ("区域编辑", "Zone editor"),
    "zones.intro": (
        "在摄像头的最新画面上用鼠标画出区域（店前、人行道、道路、禁止广告）或屏蔽区，生成站点配置中该摄像头的 zones 与 masks 行"
        "（cameras[].zones、cameras[].masks），复制后粘贴到站点配置，再用 nce config preview 核对。",
        "Draw zones (shop frontage, sidewalk, road, no ads) or masks with the mouse on a camera's latest frame; "
        "the editor writes the camera's zones and masks lines for the site config (cameras[].zones, "
        "cameras[].masks): paste them there and check with nce config preview.",
    ),
    "zones.help": (
        "单击加点 · 拖动点可移动 · 双击或 Enter 闭合 · Delete 删除所选点/区域 · Esc 取消当前绘制",
        "Click to add a point · drag a point to move it · double-click or Enter closes · "
        "Delete removes the selected point/polygon · Esc cancels the drawing",
    ),
    "zones.forbidden": (
        "只有主管和管理员可以编辑区域（当前角色：{role}）。",
        "Only supervisors and admins edit zones (your role: {role}).",
    ),
    "zones.camera": ("摄像头", "Camera"),
    "zones.show": ("显示", "Show"),
    "zones.no_camera": (
        "服务尚未收到任何摄像头的画面或案件。",
        "The service has no frame or case from any camera yet.",
    ),
    "zones.no_picture": ("该摄像头暂无画面。", "No picture of this camera yet."),
    "zones.shapes": ("多边形", "Polygons"),
    "zones.none": ("尚未画任何多边形。", "No polygon drawn yet."),
    "zones.kind": ("类型", "Kind"),
    "zones.kind.shop_frontage": ("店前区域", "shop frontage"),
    "zones.kind.sidewalk": ("人行道", "sidewalk"),
    "zones.kind.road": ("道路", "road"),
    "zones.kind.no_ads": ("禁止广告区", "no ads"),
    "zones.kind.mask": ("屏蔽区", "mask"),
    "zones.id": ("区域编号", "Zone id"),
    "zones.name": ("名称", "Name"),
    "zones.shop": ("商户", "Shop"),
    "zones.classes": ("屏蔽的类别", "Masked classes"),
    "zones.delete": ("删除此多边形", "Delete this polygon"),
    "zones.yaml": ("配置行（YAML）", "Config lines (YAML)"),
    "zones.copy": ("复制", "Copy"),
    "zones.copied": ("已复制", "Copied"),
    "zones.download": ("下载", "Download"),
    "zones.paste": ("载入已有配置行", "Load existing lines"),
    "zones.paste_hint": (
        "粘贴该摄像头已有的 zones:/masks: 行（或其 cameras 条目）后点“载入”，即可继续编辑。",
        "Paste the camera's existing zones:/masks: lines (or its cameras entry) and press Load to edit them.",
    ),
    "zones.load": ("载入", "Load"),
    "zones.invalid": ("配置有误：", "Not valid: "),
}
