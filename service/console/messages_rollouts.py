"""The console's words for rollouts (ledger entries ``model_assigned``, ``camera_settings_changed``,
``model_rolled_back``, ``model_refused``; the rollouts page), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

ROLLOUTS: Final[dict[str, tuple[str, str]]] = {
    "action.model_assigned": ("下发模型", "model assigned"),
    "action.camera_settings_changed": ("修改摄像头远程设置", "camera settings changed"),
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
}
