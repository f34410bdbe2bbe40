"""What every benchmark shares: machine description, result files, the RESULTS.md table, plots."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
VTEST = (
    ROOT / "data" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data" / "vtest.avi"
)


def machine() -> dict[str, Any]:
    """Which machine and which versions produced a result."""
    cpu = platform.processor()
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.+)", text)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    versions = {}
    for pkg in (
        "numpy",
        "onnxruntime",
        "opencv-python-headless",
        "fastapi",
        "SQLAlchemy",
        "ultralytics",
        "torch",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, result: dict[str, Any], table: list[dict[str, Any]], notes: str = "") -> Path:
    """Write results/<name>.json and replace this benchmark's section of RESULTS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "machine": machine(), **result}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _update_markdown(name, doc, table, notes)
    return path


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    out = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for row in rows:
        out += "| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |\n"
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return "" if v is None else str(v)


def _update_markdown(name: str, doc: dict[str, Any], table: list[dict[str, Any]], notes: str) -> None:
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    m = doc["machine"]
    section = (
        f"{begin}\n## {name}\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; commit {m['commit']}; {m['when']}.\n\n"
        f"{markdown_table(table)}\n{notes.strip()}\n{end}"
    )
    text = (
        RESULTS_MD.read_text(encoding="utf-8")
        if RESULTS_MD.exists()
        else (
            "# Benchmark results\n\nWritten by `make bench` / `make bench-quick`; JSON beside in `results/`. "
            "These machines are noisy: compare within one run, as ratios.\n"
        )
    )
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")


def bar_plot(path: Path, labels: list[str], values: list[float], title: str, ylabel: str) -> None:
    """A small bar chart (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    bars = ax.bar(labels, values, color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"][: len(values)])
    ax.bar_label(bars, fmt="%.1f")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
