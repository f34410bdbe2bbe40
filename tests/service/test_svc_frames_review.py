"""Labels from reviews, on SQLite and PostgreSQL: confirming a case labels its raw stills (partial:
other objects unverified), dismissing it as a false detection records the boxes as hard negatives,
any other dismissal teaches nothing; the ledger and the tables still agree."""

from __future__ import annotations

from sqlalchemy import select

from service import ledger, ledger_replay
from service.models import LedgerEntry
from tests.support.frame_pool import deliver


def review(api, case_id: int, headers, **body) -> None:
    r = api.client.post(f"/api/v1/cases/{case_id}/review", json=body, headers=headers)
    assert r.status_code == 200, r.text


def pool(api, headers, status: str | None = None) -> list[dict]:
    url = "/api/v1/frames?limit=200" + (f"&status={status}" if status else "")
    return api.client.get(url, headers=headers).json()["items"]


def assert_ledger_agrees(api) -> None:
    with api.session() as s:
        assert ledger.verify(s).ok
        replayed = ledger_replay.replay(s)
        assert replayed.ok, [d.message for d in replayed.differences]


def test_confirming_a_case_labels_its_raw_stills_as_partial_frames(api):
    dev = api.device()
    sup = api.user("supervisor", username="rev1")
    case_id, shas = deliver(api, dev, 1)
    assert pool(api, sup) == []
    review(api, case_id, sup, decision="confirm")
    frames = {f["sha256"]: f for f in pool(api, sup, "partial")}
    # the stills where the object was seen, never the annotated copy or the still without a box
    assert set(frames) == {shas["still-1.jpg"], shas["still-3.jpg"]}
    first, confirmed = frames[shas["still-1.jpg"]], frames[shas["still-3.jpg"]]
    for f in (first, confirmed):
        assert (f["source"], f["reason"], f["camera_id"], f["case_id"]) == (
            "case",
            "review",
            "cam-09",
            case_id,
        )
        assert (f["width"], f["height"], f["complete"], f["labelled_how"]) == (
            640,
            480,
            False,
            "review_confirm",
        )
        assert f["labelled_by"] == "user:rev1" and f["package_id"] == f"{dev.device_id}-00000001"
    assert first["labels"] == [{"label": "stall", "box": [100.0, 120.0, 300.0, 400.0], "negative": False}]
    # clipped to the frame; the deciding sample's detections come with the still taken at the event
    assert confirmed["labels"] == [{"label": "stall", "box": [600.0, 400.0, 640.0, 480.0], "negative": False}]
    assert [d["label"] for d in confirmed["detections"]] == ["stall", "goods"] and first["detections"] == []
    assert first["taken_at"].startswith("2026-11-27T02:26:00")
    # the image is the evidence file itself (content-addressed: nothing stored twice)
    image = api.client.get(first["image_url"], headers=sup)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    with api.session() as s:
        entries = s.execute(select(LedgerEntry).where(LedgerEntry.action == "frame_labelled")).scalars().all()
        assert sorted(e.payload["sha256"] for e in entries) == sorted(frames)
        assert {(e.actor, e.payload["how"], e.payload["case_id"], e.case_id) for e in entries} == {
            ("user:rev1", "review_confirm", case_id, None)
        }
    assert_ledger_agrees(api)
    # a labeller completes one of them: it is labelled (and the review's labelling stays in its history)
    boxes = [{"label": "stall", "box": [100, 120, 300, 400]}, {"label": "goods", "box": [10, 10, 50, 60]}]
    r = api.client.put(
        f"/api/v1/frames/{first['frame_id']}/labels", json={"boxes": boxes, "complete": True}, headers=sup
    )
    assert r.status_code == 200 and r.json()["status"] == "labelled"
    history = api.client.get(f"/api/v1/frames/{first['frame_id']}", headers=sup).json()["history"]
    assert [h["how"] for h in history] == ["review_confirm", "label"]


def test_dismissing_as_a_false_detection_records_hard_negatives(api):
    dev = api.device()
    sup = api.user("supervisor")
    case_id, shas = deliver(api, dev, 2, label="ad_board")
    review(api, case_id, sup, decision="dismiss", reason="误检：是路人", false_detection=True)
    frames = pool(api, sup, "partial")
    assert {f["sha256"] for f in frames} == {shas["still-1.jpg"], shas["still-3.jpg"]}
    for f in frames:
        assert f["labelled_how"] == "review_dismiss" and f["complete"] is False
        assert [(b["label"], b["negative"]) for b in f["labels"]] == [("ad_board", True)]
    with api.session() as s:
        reviewed = s.execute(select(LedgerEntry).where(LedgerEntry.action == "case_reviewed")).scalar_one()
        assert reviewed.payload["false_detection"] is True
    assert_ledger_agrees(api)


def test_other_dismissals_teach_nothing_and_false_detection_is_for_dismissals_only(api):
    dev = api.device()
    sup = api.user("supervisor")
    case_id, _ = deliver(api, dev, 3)
    r = api.client.post(
        f"/api/v1/cases/{case_id}/review", json={"decision": "confirm", "false_detection": True}, headers=sup
    )
    assert r.status_code == 422 and "false_detection" in r.text
    review(api, case_id, sup, decision="dismiss", reason="外摆位许可时段")
    assert pool(api, sup) == [] and api.count("frame_labels") == 0
    # a package whose stills are not decodable images (the service's older tests send such) reviews as
    # before and adds no frame
    other = dev.post(api.client, dev.package(shop_id="S-old")).json()["case_id"]
    review(api, other, sup, decision="confirm")
    assert pool(api, sup) == []
    assert_ledger_agrees(api)


def test_a_review_keeps_what_a_frame_had_and_adds_its_box(api):
    """What a review adds is merged into the frame's labels (called here on frames a labeller has
    completed): its box replaces the overlapping box of the same class, the rest and the completeness
    stay; the same labelling again adds nothing."""
    dev = api.device()
    sup = api.user("supervisor")
    case_id, shas = deliver(api, dev, 4)
    review(api, case_id, sup, decision="confirm")
    frame = next(f for f in pool(api, sup) if f["sha256"] == shas["still-1.jpg"])
    boxes = [{"label": "stall", "box": [102, 118, 301, 402]}, {"label": "poster", "box": [400, 10, 450, 60]}]
    r = api.client.put(
        f"/api/v1/frames/{frame['frame_id']}/labels", json={"boxes": boxes, "complete": True}, headers=sup
    )
    assert r.status_code == 200
    from service.crud.frame_sources import label_from_review
    from service.models import Case

    with api.session() as s:
        ledger.lock_head(s)
        case = s.get(Case, case_id)
        assert case is not None
        args = {"store": api.state.store, "case": case, "actor": "user:second"}
        assert label_from_review(s, decision="dismiss", false_detection=True, **args) == 2
        s.commit()
    after = api.client.get(f"/api/v1/frames/{frame['frame_id']}", headers=sup).json()
    assert after["status"] == "labelled" and after["labelled_how"] == "review_dismiss"
    assert after["labels"] == [
        {"label": "poster", "box": [400.0, 10.0, 450.0, 60.0], "negative": False},
        {"label": "stall", "box": [100.0, 120.0, 300.0, 400.0], "negative": True},
    ]
    with api.session() as s:
        ledger.lock_head(s)
        case = s.get(Case, case_id)
        assert label_from_review(s, decision="dismiss", false_detection=True, store=api.state.store,
                                 case=case, actor="user:third") == 0  # fmt: skip
        s.commit()
    assert len(api.client.get(f"/api/v1/frames/{frame['frame_id']}", headers=sup).json()["history"]) == 3
    assert_ledger_agrees(api)
