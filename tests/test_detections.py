from __future__ import annotations

import numpy as np
import pytest

from detector.detections import Detections


def make(n: int, tracked: bool = False) -> Detections:
    return Detections(
        xyxy=np.arange(n * 4, dtype=np.float32).reshape(n, 4),
        confidence=np.linspace(0.1, 0.9, n, dtype=np.float32),
        class_id=np.arange(n),
        tracker_id=np.arange(100, 100 + n) if tracked else None,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"xyxy": np.zeros((2, 3)), "confidence": np.zeros(2), "class_id": np.zeros(2)},
            r"xyxy must be shape \(n, 4\), got \(2, 3\)",
        ),
        (
            {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(3), "class_id": np.zeros(2)},
            r"confidence must be shape \(2,\), got \(3,\)",
        ),
        (
            {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(2), "class_id": np.zeros(1)},
            r"class_id must be shape \(2,\), got \(1,\)",
        ),
        (
            {
                "xyxy": np.zeros((2, 4)),
                "confidence": np.zeros(2),
                "class_id": np.zeros(2),
                "tracker_id": np.zeros(5),
            },
            r"tracker_id must be shape",
        ),
    ],
)
def test_shapes_checked(kwargs: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(**kwargs)  # type: ignore[arg-type]


def test_len_mask_index_merge() -> None:
    d = make(4, tracked=True)
    assert len(d) == 4 and len(Detections.empty()) == 0
    sub = d[d.confidence > 0.5]
    assert len(sub) == 2 and sub.tracker_id is not None and sub.tracker_id.tolist() == [102, 103]
    assert len(d[1]) == 1
    merged = Detections.merge([d, Detections.empty(), make(2, tracked=True)])
    assert len(merged) == 6 and merged.tracker_id is not None
    assert Detections.merge([d, make(1)]).tracker_id is None
    assert len(list(iter(d))) == 4


def test_geometry() -> None:
    d = Detections(xyxy=np.array([[10, 20, 30, 60]]), confidence=np.array([0.5]), class_id=np.array([0]))
    assert d.area.tolist() == [800.0]
    assert d.bottom_center.tolist() == [[20.0, 60.0]]
