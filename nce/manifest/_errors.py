"""The manifest's exceptions: :class:`ManifestError` and its :class:`SignatureInvalid`."""

from __future__ import annotations

from nce.errors import NceError


class ManifestError(NceError):
    """A manifest, key or package that cannot be used (bad JSON, not normal form, bad key file)."""


class SignatureInvalid(ManifestError):
    """The signature does not verify (tampered manifest, or signed by another key)."""
