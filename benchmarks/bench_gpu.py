"""GPU: the detector on the CUDA and TensorRT execution providers, decoding on NVDEC, and how many
1080p25 cameras at 2 detect-fps one GPU holds — or, where there is no GPU, a record that says *not
measured* and why, so that the results never suggest a GPU number that nobody took.

    python -m benchmarks.bench_gpu --out DIR          # DIR/gpu.json and DIR/gpu.md
    python -m benchmarks.bench_gpu                    # results/gpu.json and the gpu section of RESULTS.md

It looks for an NVIDIA device (``nvidia-smi -L``), a CUDA or TensorRT provider in the installed
ONNX Runtime (onnxruntime-gpu) and whether FFmpeg in PyAV opens a CUDA device. With a GPU it runs
three parts (benchmarks/gpu_parts.py, its docstring says what each measures), each in its own
process under a timeout (``--budget-s``, default 480 s, split 45/15/40 %): a part cut off keeps the
rows it wrote. ``--dry-run`` runs the same parts on the CPU with small sizes (checks the script, its
numbers are not GPU numbers and say so). docs/deploy.md (GPU) says what the machine needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, markdown_table, write_result

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
PARTS = (("detector", 0.45), ("decode", 0.15), ("cameras", 0.40))


def nvidia_devices() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    res = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []


def availability() -> dict[str, Any]:
    """What this machine offers the GPU path, and why it cannot be measured (empty when it can)."""
    import onnxruntime as ort

    from detector.video.hwaccel import cuda_decode_problem

    providers = ort.get_available_providers()
    devices = nvidia_devices()
    gpu_providers = [p for p in GPU_PROVIDERS if p in providers]
    nvdec = cuda_decode_problem(0)
    reasons = []
    if not devices:
        reasons.append("no NVIDIA device on this machine (no `nvidia-smi`, or it lists none)")
    if not gpu_providers:
        reasons.append(
            f"the installed onnxruntime {ort.__version__} offers no CUDA/TensorRT provider "
            f"(available: {', '.join(providers)}; install the gpu extra: onnxruntime-gpu)"
        )
    return {
        "devices": devices,
        "onnxruntime": ort.__version__,
        "available_providers": providers,
        "nvdec": "available" if nvdec is None else nvdec,
        "reasons": reasons,
    }


def run_part(name: str, timeout_s: float, model: Path | None, dry: bool, work: Path) -> dict[str, Any]:
    """One part in its own process; its rows, and how it ended (done, timed out, failed)."""
    out = work / f"gpu-{name}.json"
    cmd = [sys.executable, "-m", "benchmarks.gpu_parts", name, str(out)]
    cmd += ["--model", str(model)] if model is not None else []
    cmd += ["--dry-run"] if dry else []
    t0 = time.monotonic()
    print(f"bench_gpu: {name} (at most {timeout_s:.0f} s)", file=sys.stderr, flush=True)
    # its own process group: on timeout the part and what it started (nce run) end together
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=timeout_s)
        status = "done" if proc.returncode == 0 else f"failed (exit {proc.returncode}): {err.strip()[-800:]}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        status = f"timed out after {timeout_s:.0f} s (rows measured until then are kept)"
    shutil.rmtree(work / f"tmp-{name}", ignore_errors=True)  # the part's temporary files (gpu_parts.main)
    doc = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    return {"status": status, "seconds": round(time.monotonic() - t0, 1), "rows": doc["rows"]}


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of rows that may not share their keys (an error row among measured ones)."""
    cols = list(dict.fromkeys(k for row in rows for k in row))
    return markdown_table([{c: row.get(c) for c in cols} for row in rows])


def markdown(doc: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    m = doc["machine"]
    text = f"# GPU benchmark\n\nMachine: {m['cpu']}, {m['cores']} cores; {'; '.join(doc['devices']) or 'no GPU'}; "
    text += (
        f"onnxruntime {doc['onnxruntime']} ({', '.join(doc['available_providers'])}); commit {m['commit']}; "
    )
    text += f"{m['when']}.\n\n{markdown_table(rows)}\n{doc['notes']}\n"
    for name, part in doc.get("parts", {}).items():
        text += f"\n## {name}: {part['status']} ({part['seconds']} s)\n\n{table(part['rows'])}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, help="write gpu.json and gpu.md here (default: results/, RESULTS.md)"
    )
    parser.add_argument("--model", type=Path, help="the ONNX model (default: models/street-v1.onnx)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="all parts together, seconds")
    parser.add_argument("--parts", default="detector,decode,cameras", help="which parts, comma-separated")
    parser.add_argument(
        "--dry-run", action="store_true", help="run the parts on the CPU: checks the script only"
    )
    parser.add_argument("--reason", default="", help="why no accelerator was measured (for the notes)")
    args = parser.parse_args()
    avail = availability()
    reasons = ([args.reason] if args.reason else []) + avail["reasons"]
    doc: dict[str, Any] = {"measured": False, **avail, "reasons": reasons, "dry_run": args.dry_run}
    if reasons and not args.dry_run:
        why = "; ".join(reasons)
        doc["notes"] = (
            f"**Not measured.** {why[:1].upper()}{why[1:]}. The GPU numbers (the detector on the CUDA and "
            "TensorRT providers at batch 1/8/32, fp32 and fp16; NVDEC against CPU decoding of the 1080p25 "
            "streams; how many 1080p25 cameras at 2 detect-fps one GPU holds) need a machine lent an "
            "accelerator with onnxruntime-gpu installed: `python -m benchmarks.bench_gpu --out DIR` there "
            "(docs/deploy.md, GPU); every other number on this page is CPU-only."
        )
        rows = [
            {"part": "detector, CUDA / TensorRT EP, batch 1/8/32, fp32/fp16", "result": "not measured"},
            {"part": "decode, NVDEC vs CPU, 1080p25 H.264/H.265", "result": "not measured"},
            {"part": "1080p25 cameras at 2 detect-fps one GPU holds", "result": "not measured"},
        ]
    else:
        work = (args.out or Path("var/bench")).resolve()
        work.mkdir(parents=True, exist_ok=True)
        wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
        doc["parts"] = {
            name: run_part(name, share * args.budget_s, args.model, args.dry_run, work)
            for name, share in PARTS
            if name in wanted
        }
        doc["measured"] = not args.dry_run
        doc["notes"] = (
            "**Dry run on the CPU**: the script's check, not GPU numbers." if args.dry_run
            else "Measured on the GPU above; see benchmarks/gpu_parts.py for what each part measures."
        )  # fmt: skip
        rows = [{"part": n, "status": p["status"], "rows": len(p["rows"])} for n, p in doc["parts"].items()]
    if args.out is None:
        write_result("gpu", doc, rows, doc["notes"])
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        full = {"benchmark": "gpu", "machine": machine(), **doc}
        (args.out / "gpu.json").write_text(
            json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (args.out / "gpu.md").write_text(markdown(full, rows), encoding="utf-8")
    print(doc["notes"], file=sys.stderr)


if __name__ == "__main__":
    main()
