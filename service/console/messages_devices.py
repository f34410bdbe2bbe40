"""The console's words for fleet health (设备, /devices: service/console/devices.py) and the case
page's clock warning, part of :data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

DEVICES: Final[dict[str, tuple[str, str]]] = {
    "nav.devices": ("设备", "Devices"),
    "action.device_clock_off": ("设备时钟偏差超限", "device clock off"),
    "action.device_clock_ok": ("设备时钟恢复正常", "device clock back in range"),
    "ledger.field.offset_ms": ("时钟偏差（毫秒）", "clock offset (ms)"),
    "ledger.field.error_ms": ("测量误差（毫秒）", "measurement error (ms)"),
    "case.clock_off": ("设备时钟偏差", "Device clock off"),
    "case.clock_off_detail": (
        "本案有 {n} 条证据在设备时钟偏差超过 1 秒时收到（最大 {s} 秒）：其中的时间需核实后再作为执法依据。",
        "{n} hits of this case arrived while their device's clock was more than 1 s off (up to {s} s): "
        "check their times before relying on them.",
    ),
    "devices.title": ("设备", "Devices"),
    "devices.intro": (
        "每台边缘设备定时上报心跳（默认每 30 秒，uplink.heartbeat_s）。超过 {device_s} 秒无心跳的设备、连续 {camera_s} 秒未正常取流的摄像头"
        "视为离线，排在最前；设备时钟与服务器偏差超过 {clock_s} 秒时，其期间上传的证据会被标记。",
        "Each edge box sends a heartbeat (every 30 s by default: uplink.heartbeat_s). A device without one for {device_s} s, and a camera "
        "not streaming for {camera_s} s, is down and listed first; while a device's clock is more than "
        "{clock_s} s off, the evidence it sends is flagged.",
    ),
    "devices.alerts": (
        "离线告警：{devices} 台设备、{cameras} 个摄像头",
        "Down: {devices} device(s), {cameras} camera(s)",
    ),
    "devices.page": ("第 {page}/{pages} 页，共 {n} 台设备", "Page {page} of {pages}, {n} devices"),
    "devices.prev": ("上一页", "Previous"),
    "devices.next": ("下一页", "Next"),
    "devices.all_ok": ("全部设备和摄像头在线。", "Every device and camera is up."),
    "devices.empty": (
        "尚未登记设备（nce admin add-device）。",
        "No devices enrolled yet (nce admin add-device).",
    ),
    "devices.col.device": ("设备", "Device"),
    "devices.col.status": ("状态", "Status"),
    "devices.col.last": ("最近心跳", "Last heartbeat"),
    "devices.col.version": ("版本 / 模型", "Version / model"),
    "devices.col.outbox": ("待上传", "Outbox"),
    "devices.col.clock": ("时钟偏差", "Clock offset"),
    "devices.col.load": ("负载", "Load"),
    "devices.col.camera": ("摄像头", "Camera"),
    "devices.col.fps": ("帧率", "fps"),
    "devices.col.reconnects": ("重连", "Reconnects"),
    "devices.col.frame": ("画面", "Frame"),
    "devices.status.up": ("在线", "up"),
    "devices.status.down": ("离线", "down"),
    "devices.status.never": ("从未上报", "never heard from"),
    "devices.ago": ("{s} 秒前", "{s} s ago"),
    "devices.for": ("已 {s} 秒", "for {s} s"),
    "devices.outbox": ("{n} 项，最早 {s} 秒", "{n} items, oldest {s} s"),
    "devices.clock_ok": ("正常", "ok"),
    "devices.clock_off": ("偏差超限", "off"),
    "devices.clock_error": ("±{ms} 毫秒", "±{ms} ms"),
    "devices.show_frame": ("最新画面", "Latest frame"),
    "devices.no_frame": ("无", "none"),
    "devices.camera_state.connecting": ("连接中", "connecting"),
    "devices.camera_state.up": ("正常", "up"),
    "devices.camera_state.down": ("断流", "down"),
    "devices.camera_state.eof": ("文件结束", "file ended"),
    "devices.camera_state.failed": ("无法读取", "failed"),
    "devices.camera_state.stopped": ("已停止", "stopped"),
}
