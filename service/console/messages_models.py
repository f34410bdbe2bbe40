"""The console's words for model releases (ledger entries ``model_release_added``), part of
:data:`service.console.messages.CATALOGUE`: ``key: (zh-CN, en)``."""

from __future__ import annotations

from typing import Final

MODELS: Final[dict[str, tuple[str, str]]] = {
    "action.model_release_added": ("模型发布入库", "model release added"),
    "ledger.field.release_id": ("模型发布", "Release"),
    "ledger.field.model_sha256": ("模型哈希", "Model SHA-256"),
    "ledger.field.gate_verdict": ("评估闸门", "Evaluation gate"),
    "ledger.field.forced": ("未通过评估闸门，强制发布", "released despite a failed gate"),
    "gate.pass": ("通过", "passed"),
    "gate.fail": ("未通过", "failed"),
}
