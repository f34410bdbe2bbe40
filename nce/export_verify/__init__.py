"""Verify a case export offline, from the zip (or its extracted folder) alone.

What :func:`verify_export` checks (layout: :mod:`nce.case_export`), each failure one line:

1. the zip names no member twice and nothing outside the layout;
2. the service key (``transparency/service.pub``) is the pinned one, when a fingerprint is given;
   the checkpoint's signature verifies against it;
3. every device key in ``devices/`` has the fingerprint ``devices/index.json`` names;
4. every package folder: the manifest is valid and signed by its device's key from the export, it
   sits in the folder its device and sequence name, every file listed is there with its size and
   SHA-256 and nothing else is; its inclusion proof is for this manifest and leads to the signed
   checkpoint's root;
5. the last entry of ``ledger.json`` is this export's (``case_exported``), hashes to itself, and is
   the ledger head the checkpoint signs; its member list (path → SHA-256) is exactly the package
   files and the documents (``README.txt``, ``README.zh-CN.txt``, ``证据清单.html``) in the export,
   and its device fingerprints are the index's (an export made before documents were recorded:
   its ``README.txt`` only, unrecorded, is let through);
6. per device, where each package stands in its chain: the sequence, and whether the previous
   sequence is in the export and links (``prev_manifest_hash``). A gap is not a problem (a case
   holds only some of a device's packages); a broken link between two packages it holds is.

Never needs another case's evidence, the service, or the network.

The export is read, zip or folder alike, by :mod:`~nce.export_verify._source`; the checks are
:mod:`~nce.export_verify._checks`; what they find is an :class:`ExportReport`
(:mod:`~nce.export_verify._report`), printed by :func:`report_lines`.
"""

from __future__ import annotations

from nce.export_verify._checks import verify_export
from nce.export_verify._report import ExportReport, PackageResult, report_lines
from nce.export_verify._source import ExportUnreadable, is_export

__all__ = ["ExportReport", "ExportUnreadable", "PackageResult", "is_export", "report_lines", "verify_export"]
