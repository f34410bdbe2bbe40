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
