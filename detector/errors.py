"""The edge side's exception tree.

::

    DetectorError (nce.errors.NceError)
    ├── ConfigError          a site config that does not load; carries every problem found
    ├── UnknownCameraError   a camera id the loaded site config does not have (also a LookupError)
    ├── ModelError           a model file that is missing, not ONNX, not a detect model, …
    │   └── ProviderError    execution providers asked for are not the ones in use
    ├── SourceError          a camera or file that cannot be opened or read
    ├── DataError            synthetic data / training / evaluation inputs that are wrong (modeling/)
    └── EvidenceError        evidence packaging, keys and verification

Third-party errors (ONNX Runtime, OpenCV, PyYAML, pydantic) are translated where they are caught,
with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nce.errors import NceError


class DetectorError(NceError):
    """Base class of the edge side's errors."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: ``file: path: why``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class ConfigError(DetectorError):
    """A config that does not load. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class UnknownCameraError(DetectorError, LookupError):
    """A camera id the site config does not have: ``unknown camera 'x'; known: a, b``."""


class ModelError(DetectorError):
    """A model that cannot be used: missing, not ONNX, not a detect model, unknown layout."""


class ProviderError(ModelError):
    """The execution providers asked for are not the ones ONNX Runtime uses."""


class SourceError(DetectorError):
    """A camera stream or file that cannot be opened or read."""


class DataError(DetectorError):
    """Inputs of data synthesis, training or evaluation that are wrong."""


class EvidenceError(DetectorError):
    """Evidence packaging, signing keys or verification."""
