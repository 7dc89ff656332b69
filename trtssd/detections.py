"""Per-frame detection result, modelled on supervision's ``Detections``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Detections of one frame.

    Attributes:
        xyxy: float32 ``[N, 4]`` boxes ``(x1, y1, x2, y2)`` in pixels of the original frame.
        confidence: float32 ``[N]`` scores in ``[0, 1]``, sorted descending by the detector.
        class_id: int64 ``[N]`` class ids; ``labels[class_id]`` names them (for COCO models the
            id is the COCO category id 1..90; 0 is the background and never appears).
        labels: the model's label list, shared by all frames (not compared by ``==``).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    labels: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) else np.zeros((0, 4), np.float32)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if not (len(xyxy) == len(conf) == len(cls)):
            raise ValueError(
                f"Detections: expected xyxy [N,4], confidence [N], class_id [N] of one N, "
                f"found {len(xyxy)}, {len(conf)}, {len(cls)}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)

    @classmethod
    def empty(cls, labels: tuple[str, ...] = ()) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), labels)

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index) -> "Detections":
        """Select detections by integer array, slice or boolean mask."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], self.labels)

    @property
    def class_name(self) -> list[str]:
        """Label of each detection (``"class <id>"`` when the model has no name for it)."""
        return [self.label_of(int(c)) for c in self.class_id]

    def label_of(self, class_id: int) -> str:
        if 0 <= class_id < len(self.labels) and self.labels[class_id]:
            return self.labels[class_id]
        return f"class {class_id}"

    def to_records(self, ndigits: int = 2) -> list[dict]:
        """JSON-ready list: ``{"xyxy": [x1,y1,x2,y2], "score": s, "class_id": c, "label": name}``."""
        return [
            {
                "xyxy": [round(float(v), ndigits) for v in box],
                "score": round(float(score), 4),
                "class_id": int(cid),
                "label": self.label_of(int(cid)),
            }
            for box, score, cid in zip(self.xyxy, self.confidence, self.class_id)
        ]
