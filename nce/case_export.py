"""The layout of a case export (the zip a case system downloads): the names both the service
(which writes it) and the auditor's verifier (:mod:`nce.export_verify`) use.

::

    README.txt                                  how to verify
    README.zh-CN.txt                            the same in Chinese: what is inside, how to verify
    证据清单.html                               the printable evidence list (case, party, legal
                                                basis, stills, every file's SHA-256, reviewer)
    case.json                                   the case detail
    ledger.json                                 the case's ledger entries, this export's entry last
    packages/<device_id>-<sequence:08d>/        one signed package: manifest.json + its files
    public/<device_id>-<sequence:08d>-<hash16>/ a disclosure copy (its manifest hash's first 16 hex)
    devices/index.json                          {device_id: {"key_file", "fingerprint"}}
    devices/<device_id>.pub                     each device's enrolled Ed25519 public key (PEM)
    transparency/service.pub                    the service key (PEM) that signs checkpoints
    transparency/checkpoint.json                a checkpoint signed at export time
    transparency/inclusion/<package folder>.json   each package's inclusion proof to that checkpoint
    shop/responses.json                         what the shop sent through its page (statements, photos)
    shop/<ledger seq>-<sha16>.jpg|png           each correction photo the shop uploaded, as uploaded

A package folder is named by device and sequence, which the service keeps unique (a ``package_id``
is the edge's name and two devices may use the same one).

The ``shop/`` files are recorded in the export's ledger entry's ``members`` like package files.

The export's ledger entry records every package file and every document (:data:`DOCUMENTS`) with its
SHA-256 in ``members``; an export made before the documents were recorded holds ``README.txt`` only,
unrecorded (:data:`LEGACY_DOCUMENT`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

from nce.manifest import Manifest

README = "README.txt"
README_ZH = "README.zh-CN.txt"
EVIDENCE_LIST = "证据清单.html"
DOCUMENTS = (README, README_ZH, EVIDENCE_LIST)
LEGACY_DOCUMENT = README
CASE_JSON = "case.json"
LEDGER_JSON = "ledger.json"
PACKAGES = "packages"
PUBLIC = "public"
DEVICES_INDEX = "devices/index.json"
SERVICE_KEY = "transparency/service.pub"
CHECKPOINT = "transparency/checkpoint.json"
INCLUSION = "transparency/inclusion"
EXPORT_ACTION = "case_exported"
SHOP = "shop"  # the shop page's statements and correction photos (recorded members)
SHOP_RESPONSES = "shop/responses.json"


def package_dir(manifest: Manifest, manifest_hash: str) -> str:
    """``packages/<device>-<seq>`` (or ``public/<device>-<seq>-<hash16>`` for a public copy)."""
    name = f"{manifest.device_id}-{manifest.sequence:08d}"
    if manifest.kind == "public_copy":
        return f"{PUBLIC}/{name}-{manifest_hash[:16]}"
    return f"{PACKAGES}/{name}"


def device_key_path(device_id: str) -> str:
    return f"devices/{device_id}.pub"


def proof_path(package: str) -> str:
    """The inclusion proof of the package folder ``package`` (``packages/…`` or ``public/…``)."""
    return f"{INCLUSION}/{package}.json"


class DeviceKeyRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: str = Field(description="path of the PEM public key in the export")
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the raw public key")


class DevicesIndex(RootModel[dict[str, DeviceKeyRef]]):
    """``devices/index.json``: the enrolled key of every device whose packages the export holds."""
