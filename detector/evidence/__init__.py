"""Evidence packages on the edge: stills, clip, crop, OCR, signed hash-chained manifests, quota.

The manifest contract itself (model, canonical JSON, signing, verification) is
:mod:`nce.manifest`, shared with the service. See docs/evidence.md.
"""

from __future__ import annotations

from detector.evidence.packager import EvidencePackager, PackageListener
from detector.evidence.quota import DeliveredPackages, EvidenceQuota

__all__ = ["DeliveredPackages", "EvidencePackager", "EvidenceQuota", "PackageListener"]
