"""Public copies (``kind: public_copy``): a disclosure copy of one of the device's OWN packages, of a
case that is still open. It never joins another device's case, never a closed case, and its hit id
never carries later events into a case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nce.manifest import DerivedFrom
from tests.security.sec_service import Service
from tests.support.devices import DeviceHandle, Package, files_for


def public_copy(dev: DeviceHandle, original: Package, **kwargs: object) -> Package:
    return dev.package(
        kind="public_copy",
        hit_id=str(kwargs.pop("hit_id", original.manifest.event.hit_id)),
        files={"still-3-confirmed.jpg": files_for(f"pub-{dev.device_id}")["still-3-confirmed.jpg"]},
        stills=[],
        derived_from=DerivedFrom(
            package_id=original.manifest.package_id, manifest_hash=original.hash, method="faces blurred"
        ),
        **kwargs,  # type: ignore[arg-type]
    )


def _other_device(case_svc: Service, owner: DeviceHandle, original: Package) -> tuple[DeviceHandle, Package]:
    thief = case_svc.device()
    return thief, public_copy(thief, original)


def _dismissed(case_svc: Service, owner: DeviceHandle, original: Package) -> tuple[DeviceHandle, Package]:
    case_id = case_svc.case_of(original)
    r = case_svc.http.post(
        f"/api/v1/cases/{case_id}/review",
        json={"decision": "dismiss", "reason": "误报"},
        headers=case_svc.operator(),
    )
    assert r.status_code == 200, r.text
    return owner, public_copy(owner, original)


def _corrected(case_svc: Service, owner: DeviceHandle, original: Package) -> tuple[DeviceHandle, Package]:
    from service.models import Case

    with case_svc.state.sessions() as s:  # a closed case (the sweeper's doing, in real life)
        case = s.get(Case, case_svc.case_of(original))
        assert case is not None
        case.status = "corrected"
        s.commit()
    return owner, public_copy(owner, original)


def _of_a_public_copy(
    case_svc: Service, owner: DeviceHandle, original: Package
) -> tuple[DeviceHandle, Package]:
    first = public_copy(owner, original)
    assert case_svc.post(owner, first).status_code == 201
    return owner, public_copy(owner, first)


def _of_no_case(case_svc: Service, owner: DeviceHandle, original: Package) -> tuple[DeviceHandle, Package]:
    lone = owner.package(event="still_present", hit_id="hit-without-case")
    assert case_svc.post(owner, lone).json()["case_id"] is None
    return owner, public_copy(owner, lone)


# (how the copy is made, words of the 422)
REFUSED: list[object] = [
    pytest.param(_other_device, "no package of this device", id="of-another-devices-package"),
    pytest.param(_dismissed, "is dismissed", id="of-a-dismissed-case"),
    pytest.param(_corrected, "is corrected", id="of-a-corrected-case"),
    pytest.param(_of_a_public_copy, "a public copy", id="of-a-public-copy"),
    pytest.param(_of_no_case, "belongs to no case", id="of-a-package-without-case"),
]


@pytest.mark.parametrize(("make", "words"), REFUSED)
def test_a_public_copy_is_refused_and_stores_nothing(
    case_svc: Service,
    make: Callable[[Service, DeviceHandle, Package], tuple[DeviceHandle, Package]],
    words: str,
) -> None:
    owner = case_svc.device()
    original = owner.package()
    assert case_svc.post(owner, original).status_code == 201
    sender, copy = make(case_svc, owner, original)
    before, case_before = case_svc.stored(), case_svc.case(case_svc.case_of(original))
    r = case_svc.post(sender, copy)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("derived_from: ") and words in detail and "\n" not in detail, detail
    assert case_svc.stored() == before
    assert case_svc.case(case_svc.case_of(original)) == case_before


def test_a_public_copy_of_an_open_case_of_the_same_device_is_taken(case_svc: Service) -> None:
    dev = case_svc.device()
    original = dev.package()
    case_id = case_svc.post(dev, original).json()["case_id"]
    r = case_svc.post(dev, public_copy(dev, original))
    assert r.status_code == 201, r.text
    assert (r.json()["case_id"], r.json()["merged"]) == (case_id, True)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned-event", "signed-package"])
def test_events_after_a_public_copy_do_not_join_its_case(case_svc: Service, signed: bool) -> None:
    """The copy names a hit id of its own choosing; events of that hit id must not reach the case."""
    dev = case_svc.device()
    original = dev.package()
    case_id = case_svc.post(dev, original).json()["case_id"]
    copy = public_copy(dev, original, hit_id="hit-smuggled")
    assert case_svc.post(dev, copy).json()["case_id"] == case_id
    before = case_svc.case(case_id)["case"]
    if signed:
        r = case_svc.post(
            dev, dev.package(hit_id="hit-smuggled", event="still_present", shop_id="S-elsewhere")
        )
    else:
        r = case_svc.event(dev, hit_id="hit-smuggled", event="still_present")
    assert r.status_code == 201, r.text
    assert r.json()["case_id"] is None
    after = case_svc.case(case_id)
    assert after["case"]["sightings"] == before["sightings"]
    assert [h["hit_id"] for h in after["hits"]] == [
        original.manifest.event.hit_id,
        "hit-smuggled",  # the copy itself
    ]
