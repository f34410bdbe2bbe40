"""The console's words for the shops page (店铺, /shops: service/console/shops.py), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

SHOPS: Final[dict[str, tuple[str, str]]] = {
    "nav.shops": ("店铺", "Shops"),
    "shops.title": ("店铺（一店一码）", "Shops (一店一码)"),
    "shops.intro": (
        "案件的当事人来自此名录。名录由管理员用 nce admin import-shops 导入（站点配置、YAML 或 CSV），"
        "每次变更都记入审计日志。",
        "A case's party comes from this registry. An admin imports it with nce admin import-shops (a site "
        "config, YAML or CSV); every change is a ledger entry.",
    ),
    "shops.count": ("共 {total} 家店铺", "{total} shop(s)"),
    "shops.more": ("仅显示前 {shown} 家。", "Only the first {shown} are shown."),
    "shops.empty": (
        "名录中还没有店铺：出店经营等案件将没有当事人。请用 nce admin import-shops 导入站点配置中的店铺。",
        "The registry has no shops yet: cases such as 出店经营 have no party. Import the site config's "
        "shops with nce admin import-shops.",
    ),
    "shops.col.id": ("店铺编号", "Shop id"),
    "shops.col.name": ("名称", "Name"),
    "shops.col.code": ("一店一码", "Shop code"),
    "shops.col.license": ("营业执照号", "Licence no."),
    "shops.col.address": ("地址", "Address"),
    "shops.col.contact": ("联系方式", "Contact"),
    "shops.col.cases": ("案件（未结/全部）", "Cases (open/all)"),
    "shops.missing": ("名录中没有、但案件引用的店铺", "Shops that cases name but the registry lacks"),
    "shops.missing_note": (
        "这些案件显示不出当事人：请用 nce admin import-shops 把这些店铺加入名录。",
        "These cases show no party: add the shops with nce admin import-shops.",
    ),
}
