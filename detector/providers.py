"""ONNX Runtime execution provider names, checked before a session is made: a name ONNX Runtime
does not know (``CPU``, ``cuda``) is one line naming the valid ones, never ONNX Runtime's own
multi-line warning and a silent retry."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from detector.errors import ProviderError


def check_provider_names(asked: Sequence[str]) -> None:
    """Raise :class:`ProviderError` for the first name ONNX Runtime has never heard of."""
    import onnxruntime as ort

    known: list[str] = list(ort.get_all_providers())
    for name in asked:
        if name in known:
            continue
        lowered = {k.lower(): k for k in known}
        guess = lowered.get(name.lower()) or lowered.get(f"{name.lower()}executionprovider")
        guess = guess or next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.5)), None)
        hint = f"did you mean {guess}? " if guess else ""
        raise ProviderError(
            f"unknown execution provider {name!r}: {hint}this onnxruntime build offers "
            f"{', '.join(ort.get_available_providers())} (all valid names: {', '.join(known)})"
        )


ProviderArg = str | tuple[str, dict[str, str]]  # as ONNX Runtime takes them: a name, or (name, options)


def provider_name(arg: ProviderArg) -> str:
    return arg if isinstance(arg, str) else arg[0]


def available_providers(asked: Sequence[ProviderArg], allow_fallback: bool) -> list[ProviderArg]:
    """The providers to hand ONNX Runtime: each name must be known (:func:`check_provider_names`)
    and in this onnxruntime build (a CUDA or TensorRT provider needs onnxruntime-gpu), else one
    :class:`ProviderError` line naming what the build has. With ``allow_fallback`` the missing ones
    are left out (the check after the session warns about them), never handed to ONNX Runtime to
    drop with its own multi-line warning."""
    import onnxruntime as ort

    names = [provider_name(a) for a in asked]
    check_provider_names(names)
    have = list(ort.get_available_providers())
    missing = [n for n in names if n not in have]
    if missing and not allow_fallback:
        raise ProviderError(
            f"execution provider {', '.join(missing)} was asked for but this onnxruntime "
            f"{ort.__version__} build does not have it (available: {', '.join(have)}); install "
            "onnxruntime-gpu (the gpu extra) with its CUDA/TensorRT libraries, or set allow_fallback"
        )
    kept = [a for a in asked if provider_name(a) in have]
    return kept or ["CPUExecutionProvider"]
