"""The frame pool's API on SQLite and PostgreSQL: adding images, labelling them (bad labels refused
naming the box, the same labels twice change nothing, the history keeps every labelling), paging."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select

from service import ledger
from service.models import LedgerEntry
from tests.support.images import jpeg, png


def upload(api, headers, data, camera_id="cam-01", filename="street.jpg", mime="image/jpeg"):
    return api.client.post(
        "/api/v1/frames",
        files={"image": (filename, data, mime)},
        data={"camera_id": camera_id},
        headers=headers,
    )


def labels_entries(api) -> list[LedgerEntry]:
    with api.session() as s:
        return list(
            s.execute(
                select(LedgerEntry).where(LedgerEntry.action == "frame_labelled").order_by(LedgerEntry.seq)
            ).scalars()
        )


@pytest.fixture
def full_hd(api):
    """A 1920x1080 frame in the pool, and a supervisor's headers."""
    sup = api.user("supervisor")
    r = upload(api, sup, jpeg(1920, 1080, seed=1))
    assert r.status_code == 201, r.text
    return r.json()["frame_id"], sup


def test_an_uploaded_image_is_a_frame_with_its_size_and_bytes(api):
    sup = api.user("supervisor", username="sup1")
    data = png(800, 600, seed=2)
    r = upload(api, sup, data, camera_id="cam-07", filename="cam7.png", mime="image/png")
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("camera_id", "source", "reason", "width", "height", "mime", "status")} == {
        "camera_id": "cam-07",
        "source": "import",
        "reason": "upload",
        "width": 800,
        "height": 600,
        "mime": "image/png",
        "status": "unlabelled",
    }
    assert body["labels"] is None and body["detections"] == [] and body["origin"] == "cam7.png"
    image = api.client.get(body["image_url"], headers=api.user("operator"))
    assert image.status_code == 200 and image.content == data
    assert image.headers["content-type"] == "image/png" and image.headers["etag"] == f'"{body["sha256"]}"'
    # the same image again is the same frame (200); from another camera it is a conflict
    again = upload(api, sup, data, camera_id="cam-07")
    assert again.status_code == 200 and again.json()["frame_id"] == body["frame_id"]
    other = upload(api, sup, data, camera_id="cam-08")
    assert other.status_code == 409 and f"frame {body['frame_id']} of camera cam-07" in other.json()["detail"]
    assert api.count("frames") == 1
    with api.session() as s:
        added = s.execute(select(LedgerEntry).where(LedgerEntry.action == "frame_added")).scalars().all()
        assert [(e.actor, e.payload["sha256"], e.payload["width"]) for e in added] == [
            ("user:sup1", body["sha256"], 800)
        ]
        assert ledger.verify(s).ok


@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        (
            {"image": ("a.txt", b"hello, not an image", "image/jpeg")},
            {"camera_id": "c1"},
            415,
            "not a JPEG or PNG",
        ),
        (
            {"image": ("a.gif", b"GIF89a\x01\x00\x01\x00", "image/gif")},
            {"camera_id": "c1"},
            415,
            "not a JPEG",
        ),
        (
            {"image": ("a.jpg", b"\xff\xd8\xff\xe0" + b"a" * 100, "image/jpeg")},
            {"camera_id": "c1"},
            422,
            "frame header",
        ),
        ({"image": ("a.png", png(20, 10)[:20], "image/png")}, {"camera_id": "c1"}, 422, "IHDR"),
        ({"image": ("a.jpg", jpeg(20, 10), "image/jpeg")}, {}, 422, "camera_id"),
        ({"image": ("a.jpg", jpeg(20, 10), "image/jpeg")}, {"camera_id": "../etc"}, 422, "camera_id"),
        (
            {"image": ("a.jpg", jpeg(20, 10), "image/jpeg")},
            {"camera_id": "c1", "x": "1"},
            422,
            "unexpected parts: x",
        ),
        (
            {"photo": ("a.jpg", jpeg(20, 10), "image/jpeg")},
            {"camera_id": "c1"},
            422,
            "unexpected parts: photo",
        ),
        (None, {"camera_id": "c1"}, 415, "multipart"),
    ],
    ids=[
        "text",
        "gif",
        "jpeg-damaged",
        "png-truncated",
        "no-camera",
        "bad-camera",
        "extra-field",
        "no-image",
        "not-multipart",
    ],
)
def test_a_bad_upload_is_refused_and_stores_nothing(api, files, data, status, words):
    sup = api.user("supervisor")
    r = api.client.post("/api/v1/frames", files=files, data=data, headers=sup)
    assert r.status_code == status, r.text
    assert words in str(r.json()["detail"])
    assert api.count("frames") == 0 and api.stored_files() == 0


BAD_LABELS = [
    (
        [{"label": "person", "box": [10, 10, 50, 50]}],
        "boxes[0].label: 'person' is not one of the model's classes",
    ),
    ([{"label": "Stall", "box": [10, 10, 50, 50]}], "boxes[0].label: 'Stall' is not one of"),
    (
        [
            {"label": "stall", "box": [0, 0, 10, 10]},
            {"label": "goods", "box": [0, 0, 10, 10]},
            {"label": "banner", "box": [100, 100, 1930, 200]},
        ],
        "boxes[2].box: x2 1930 is outside the frame width 1920",
    ),
    (
        [{"label": "stall", "box": [10, 10, 50, 1080.5]}],
        "boxes[0].box: y2 1080.5 is outside the frame height 1080",
    ),
    ([{"label": "stall", "box": [-3, 10, 50, 50]}], "boxes[0].box: x1 -3 is outside the frame (below 0)"),
    ([{"label": "stall", "box": [50, 10, 50, 60]}], "boxes[0].box: degenerate (0 x 50 px"),
    ([{"label": "stall", "box": [60, 10, 50, 60]}], "boxes[0].box: degenerate (-10 x 50 px"),
    ([{"label": "stall", "box": [10, 10, 60, 10.5]}], "boxes[0].box: degenerate (50 x 0.5 px"),
    # refused by the request type (nce.bounds: no NaN or infinity anywhere), naming the coordinate
    (
        [{"label": "stall", "box": [math.nan, 10, 60, 60]}],
        "['body', 'boxes', 0, 'box', 0], 'msg': 'Input should be a finite number'",
    ),
    (
        [{"label": "stall", "box": [10, 10, math.inf, 60]}],
        "['body', 'boxes', 0, 'box', 2], 'msg': 'Input should be a finite number'",
    ),
    (
        [{"label": "stall", "box": [10, 10, 60, 60]}, {"label": "stall", "box": [10.001, 10, 60, 60]}],
        "boxes[1]: the same as boxes[0]",
    ),
    (
        [{"label": "poster", "box": [0, 0, 2000, 10]}, {"label": "tree", "box": [0, 0, 5, 5]}],
        "boxes[0].box: x2 2000 is outside the frame width 1920; boxes[1].label: 'tree'",
    ),
    ([{"label": "stall", "box": [10, 10, 60, 60]}] * 0 + [{"label": "stall", "box": [1, 2, 3]}], "box"),
    ([{"label": "stall", "box": [1, 2, 3, 4], "score": 0.9}], "score"),
    ([{"label": "stall", "box": [i, 0, i + 2, 2]} for i in range(257)], "boxes"),
]


@pytest.mark.parametrize(("boxes", "words"), BAD_LABELS, ids=[
    "unknown-class", "wrong-case", "outside-x", "outside-y", "negative", "zero-width", "inverted", "thin", "nan",
    "inf", "duplicate", "two-problems", "three-numbers", "extra-field", "too-many",
])  # fmt: skip
def test_bad_labels_are_refused_naming_the_box(api, full_hd, boxes, words):
    frame_id, sup = full_hd
    entries = api.count("ledger")
    # sent as written by Python's json (NaN and Infinity as the bare words a JSON parser may accept)
    body = json.dumps({"boxes": boxes, "complete": True}).encode()
    headers = {**api.user("operator"), "Content-Type": "application/json"}
    r = api.client.put(f"/api/v1/frames/{frame_id}/labels", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert words in str(r.json()["detail"])
    assert api.count("frame_labels") == 0 and api.count("ledger") == entries
    assert api.client.get(f"/api/v1/frames/{frame_id}", headers=sup).json()["status"] == "unlabelled"


def test_labels_without_complete_or_for_a_missing_frame_are_refused(api, full_hd):
    frame_id, sup = full_hd
    r = api.client.put(f"/api/v1/frames/{frame_id}/labels", json={"boxes": []}, headers=sup)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "complete"]
    r = api.client.put("/api/v1/frames/999999/labels", json={"boxes": [], "complete": True}, headers=sup)
    assert r.status_code == 404 and r.json()["detail"] == "frame 999999 not found"


def test_relabelling_keeps_the_history_and_the_same_labels_change_nothing(api, full_hd):
    frame_id, _sup = full_hd
    alice = api.user("operator", username="alice")
    bob = api.user("operator", username="bob")
    a = [
        {"label": "stall", "box": [100, 200, 400, 600]},
        {"label": "goods", "box": [1500.5, 800, 1920, 1080]},
    ]
    b = [{"label": "umbrella", "box": [10, 10, 300, 300]}]
    url = f"/api/v1/frames/{frame_id}/labels"

    def put(boxes, headers, complete=True):
        r = api.client.put(url, json={"boxes": boxes, "complete": complete}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    first = put(a, alice)
    assert (
        first["status"] == "labelled" and first["complete"] is True and first["labelled_by"] == "user:alice"
    )
    assert first["labels"] == [
        {"label": "goods", "box": [1500.5, 800.0, 1920.0, 1080.0], "negative": False},
        {"label": "stall", "box": [100.0, 200.0, 400.0, 600.0], "negative": False},
    ]
    put(a, alice)
    put(list(reversed(a)), bob)  # the same labels in another order, by someone else: nothing new
    assert api.count("frame_labels") == 1 and len(labels_entries(api)) == 1
    partial = put(a, bob, complete=False)  # the same boxes, but no longer complete: a change
    assert partial["status"] == "partial" and partial["labelled_by"] == "user:bob"
    put(b, bob)
    last = put(a, alice)
    detail = api.client.get(f"/api/v1/frames/{frame_id}", headers=bob).json()
    assert [(h["labelled_by"], h["complete"], len(h["boxes"])) for h in detail["history"]] == [
        ("user:alice", True, 2),
        ("user:bob", False, 2),
        ("user:bob", True, 1),
        ("user:alice", True, 2),
    ]
    assert detail["labels"] == last["labels"] == first["labels"] and detail["status"] == "labelled"
    assert all(h["how"] == "label" for h in detail["history"])
    entries = labels_entries(api)
    assert [(e.actor, e.payload["label_id"], e.payload["complete"]) for e in entries] == [
        ("user:alice", detail["history"][0]["id"], True),
        ("user:bob", detail["history"][1]["id"], False),
        ("user:bob", detail["history"][2]["id"], True),
        ("user:alice", detail["history"][3]["id"], True),
    ]
    assert entries[2].payload["boxes"] == [
        {"label": "umbrella", "box": [10.0, 10.0, 300.0, 300.0], "negative": False}
    ]
    # "no objects": a clean negative
    none = put([], alice)
    assert none["labels"] == [] and none["status"] == "labelled"
    with api.session() as s:
        assert ledger.verify(s).ok


def test_the_pool_pages_by_cursor_and_filters_by_status_and_camera(api):
    sup = api.user("supervisor")
    ids = []
    for i in range(7):
        r = upload(api, sup, jpeg(64, 48, seed=100 + i), camera_id="cam-a" if i % 2 else "cam-b")
        assert r.status_code == 201, r.text
        ids.append(r.json()["frame_id"])
    for frame_id, complete in ((ids[0], True), (ids[3], True), (ids[5], False)):
        body = {"boxes": [{"label": "garbage", "box": [1, 1, 20, 20]}], "complete": complete}
        assert api.client.put(f"/api/v1/frames/{frame_id}/labels", json=body, headers=sup).status_code == 200

    def walk(query: str, limit: int) -> list[list[int]]:
        pages, cursor = [], None
        while True:
            url = f"/api/v1/frames?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
            r = api.client.get(url, headers=api.user("operator"))
            assert r.status_code == 200, r.text
            pages.append([item["frame_id"] for item in r.json()["items"]])
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return pages

    newest_first = sorted(ids, reverse=True)
    assert walk("", 3) == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    assert walk("", 7) == [newest_first]
    assert walk("&status=labelled", 1) == [[ids[3]], [ids[0]]]
    assert walk("&status=partial", 5) == [[ids[5]]]
    assert [i for page in walk("&status=unlabelled", 2) for i in page] == [
        i for i in newest_first if i not in (ids[0], ids[3], ids[5])
    ]
    assert [i for page in walk("&camera_id=cam-a", 2) for i in page] == [
        i for n, i in enumerate(ids) if n % 2
    ][::-1]
    assert walk("&camera_id=cam-a&status=labelled", 5) == [[ids[3]]]
    listed = api.client.get("/api/v1/frames?status=partial", headers=sup).json()["items"][0]
    assert listed["labels"] == [{"label": "garbage", "box": [1.0, 1.0, 20.0, 20.0], "negative": False}]
    assert listed["complete"] is False and listed["labelled_how"] == "label"
    for bad in ("status=done", "cursor=not-a-cursor", "limit=0", "limit=201"):
        assert api.client.get(f"/api/v1/frames?{bad}", headers=sup).status_code == 422, bad
    assert api.client.get("/api/v1/frames/999999", headers=sup).status_code == 404
    assert api.client.get("/api/v1/frames/999999/image", headers=sup).status_code == 404
