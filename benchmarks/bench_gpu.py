"""GPU: records whether an accelerator was there to measure the detector on it, and why not.

The GPU measurement (detector with the CUDA and TensorRT execution providers, batch 1/8/32, fp16;
cameras at 2 fps one GPU holds) runs only on a machine lent with an accelerator, as one script of at
most 8 minutes with onnxruntime-gpu carried over. This script looks for one — an NVIDIA device
(``nvidia-smi``) and a CUDA or TensorRT provider in the installed ONNX Runtime — and, where there is
none, writes results/gpu.json and a ``gpu`` section of RESULTS.md that say *not measured* and why,
so that the results never suggest a GPU number that nobody took.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from benchmarks.common import write_result

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def nvidia_devices() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    res = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return [line.strip() for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reason", default="", help="why no accelerator was measured (for the notes)")
    args = parser.parse_args()
    import onnxruntime as ort

    providers = ort.get_available_providers()
    devices = nvidia_devices()
    gpu_providers = [p for p in GPU_PROVIDERS if p in providers]
    reasons = []
    if not devices:
        reasons.append("no NVIDIA device on this machine (no `nvidia-smi`, or it lists none)")
    if not gpu_providers:
        reasons.append(
            f"the installed onnxruntime {ort.__version__} offers no CUDA/TensorRT provider "
            f"(available: {', '.join(providers)})"
        )
    if args.reason:
        reasons.insert(0, args.reason)
    result = {
        "measured": False,
        "devices": devices,
        "onnxruntime": ort.__version__,
        "available_providers": providers,
        "reasons": reasons,
    }
    rows = [
        {
            "part": "detector, CUDA / TensorRT EP, batch 1/8/32, fp16",
            "result": "not measured",
        },
        {"part": "cameras at 2 fps one GPU holds", "result": "not measured"},
    ]
    why = "; ".join(reasons)
    notes = (
        "**Not measured.** "
        + why[:1].upper()
        + why[1:]
        + ". The GPU numbers (the detector with the CUDA and TensorRT providers at batch 1/8/32 in fp16, "
        "and how many cameras at 2 fps one GPU holds) need a session lent an accelerator (the `device` "
        "tool), onnxruntime-gpu wheels carried there, and one script of at most 8 minutes; every other number "
        "on this page is CPU-only."
    )
    if devices and gpu_providers:
        notes = (
            f"A GPU is present ({'; '.join(devices)}; providers {', '.join(gpu_providers)}), but this "
            "script only records availability: the GPU measurement is not written yet."
        )
    write_result("gpu", result, rows, notes)
    print(notes, file=sys.stderr)


if __name__ == "__main__":
    main()
