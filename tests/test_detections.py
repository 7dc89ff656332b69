import numpy as np
import pytest

from trtssd.detections import Detections


def test_validates_lengths():
    with pytest.raises(ValueError, match="of one N"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_shapes_and_dtypes(n):
    d = Detections(np.ones((n, 4)), np.linspace(1, 0, n), np.arange(n))
    assert d.xyxy.shape == (n, 4) and d.xyxy.dtype == np.float32
    assert d.confidence.dtype == np.float32 and d.class_id.dtype == np.int64
    assert len(d) == n


def test_indexing_and_records():
    labels = ("background", "person", "")
    d = Detections([[0, 0, 10, 10], [5, 5, 20, 30]], [0.9, 0.4], [1, 2], labels)
    sub = d[d.confidence > 0.5]
    assert len(sub) == 1 and sub.labels == labels
    recs = d.to_records()
    assert recs[0] == {"xyxy": [0.0, 0.0, 10.0, 10.0], "score": 0.9, "class_id": 1, "label": "person"}
    assert recs[1]["label"] == "class 2"  # unnamed id
    assert d.class_name == ["person", "class 2"]
    assert len(Detections.empty(labels)) == 0
