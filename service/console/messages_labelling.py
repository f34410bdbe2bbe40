"""The console's words for the labelling page (/label: service/console/labelling.py, static/label.js),
part of :data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

LABELLING: Final[dict[str, tuple[str, str]]] = {
    "label.title": ("标注", "Labelling"),
    "label.status.unlabelled": ("未标注", "Unlabelled"),
    "label.status.partial": ("部分标注", "Partly labelled"),
    "label.status.labelled": ("已标注", "Labelled"),
    "label.camera": ("摄像头", "Camera"),
    "label.all_cameras": ("全部摄像头", "All cameras"),
    "label.filter": ("筛选", "Filter"),
    "label.classes": ("类别（按数字键选择）", "Classes (press the number)"),
    "label.boxes": ("框", "Boxes"),
    "label.history": ("标注记录（以最后一次为准）", "Label history (the last one counts)"),
    "label.save": ("保存并下一张（Enter）", "Save and next (Enter)"),
    "label.negative": ("无目标（0 / N）", "No objects (0 / N)"),
    "label.skip": ("跳过（S）", "Skip (S)"),
    "label.delete": ("删除选中框（Delete）", "Delete the box (Delete)"),
    "label.keys": (
        "拖动空白处画框 · 拖动框移动 · 拖动角点缩放 · 1–7 设类别（选中框，或下一个新框）· Delete/Backspace 删除 · "
        "0/N 无目标 · S 跳过 · Enter 保存并下一张 · Esc 取消选中",
        "Drag on empty space to draw · drag a box to move it · drag a corner to resize · 1–7 class (the "
        "selected box, or the next one drawn) · Delete/Backspace delete · 0/N no objects · S skip · "
        "Enter save and next · Esc deselect",
    ),
    "label.counts": ("各标注员工作量", "Frames per labeller"),
    "label.col.labeller": ("标注员", "Labeller"),
    "label.col.frames": ("帧数", "Frames"),
    "label.col.labellings": ("保存次数", "Saves"),
    "label.col.recent": ("近 {days} 天", "Last {days} days"),
    "label.col.latest": ("最近一次", "Latest"),
    "label.no_counts": ("还没有人工标注。", "Nobody has labelled a frame yet."),
}
