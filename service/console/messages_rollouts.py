"""The console's words for rollouts (ledger entries ``model_assigned``, ``camera_settings_changed``,
``model_rolled_back``, ``model_refused``; the rollouts page), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

ROLLOUTS: Final[dict[str, tuple[str, str]]] = {
    "action.model_assigned": ("下发模型", "model assigned"),
    "action.camera_settings_changed": ("修改摄像头远程设置", "camera settings changed"),
    "action.camera_settings_cleared": (
        "清除摄像头远程设置（恢复站点配置）",
        "camera settings cleared (back to the site config)",
    ),
    "ledger.field.cleared": ("已清除", "Cleared"),
    "action.model_rolled_back": ("模型自动回滚", "model rolled back"),
    "action.model_refused": ("设备拒绝模型", "model refused by the device"),
    "ledger.field.canary_cameras": ("灰度摄像头", "Canary cameras"),
    "ledger.field.camera": ("摄像头", "Camera"),
    "ledger.field.enabled": ("启用", "Enabled"),
    "ledger.field.min_score": ("最低置信度", "Least score"),
    "ledger.field.masks": ("屏蔽区", "Masks"),
    "ledger.field.cameras": ("摄像头", "Cameras"),
    "rollouts.title": ("模型下发", "Model rollouts"),
    "rollouts.device": ("设备", "Device"),
    "rollouts.release": ("模型发布", "Release"),
    "rollouts.where": ("范围", "Cameras"),
    "rollouts.all_cameras": ("全部摄像头", "all cameras"),
    "rollouts.state": ("状态", "State"),
    "rollouts.why": ("原因", "Why"),
    "rollouts.since": ("时间", "Since"),
    "rollouts.settings": ("远程设置", "Remote settings"),
    "rollouts.none": ("尚未向任何设备下发模型或设置。", "Nothing has been assigned to any device yet."),
    "rollout_state.pending": ("待执行", "pending"),
    "rollout_state.running": ("运行中", "running"),
    "rollout_state.rolled_back": ("已回滚", "rolled back"),
    "rollout_state.refused": ("已拒绝", "refused"),
    "nav.rollouts": ("模型下发", "Rollouts"),
    "rollouts.assign.title": ("下发模型", "Assign a release"),
    "rollouts.assign.release": ("模型发布", "Release"),
    "rollouts.assign.devices": ("设备", "Devices"),
    "rollouts.assign.canary": (
        "灰度摄像头（可选，逗号分隔；留空为全部摄像头）",
        "Canary cameras (optional, comma-separated; empty: all cameras)",
    ),
    "rollouts.assign.submit": ("下发", "Assign"),
    "rollouts.assign.no_releases": (
        "尚无模型发布（nce admin add-model）。",
        "No release stored yet (nce admin add-model).",
    ),
    "rollouts.assign.no_devices": ("尚无已注册设备。", "No device enrolled yet."),
    "rollouts.done": (
        "已将模型 {release} 下发到 {n} 台设备。",
        "Release {release} assigned to {n} device(s).",
    ),
    "rollouts.err.forbidden": ("角色 {role} 无权下发模型。", "The role {role} may not assign releases."),
    "rollouts.err.no_release": ("请选择模型发布。", "Pick a release."),
    "rollouts.err.no_device": ("请至少勾选一台设备。", "Tick at least one device."),
    "rollouts.err.too_many": (
        "一次最多 {devices} 台设备、{cameras} 个摄像头。",
        "At most {devices} devices and {cameras} cameras at once.",
    ),
    "rollouts.err.bad_camera": (
        "摄像头编号无效（字母、数字、._-）。",
        "A camera id is not valid (letters, digits, ._-).",
    ),
    "rollouts.err.refused": ("下发被拒绝：{detail}", "Assignment refused: {detail}"),
}
