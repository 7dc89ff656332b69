"""Frame sources of the end-to-end benchmark: looping and parallel decode give the same frames."""

from __future__ import annotations

import numpy as np
import pytest

from trtssd.bench.e2e import iter_batches, iter_batches_parallel
from trtssd.errors import InputError


@pytest.mark.parametrize("batch,max_frames,workers,chunk", [(4, 30, 3, 2), (5, 12, 2, 1), (8, 400, 4, 8)])
def test_parallel_decode_equals_sequential(shared_dir, batch, max_frames, workers, chunk):
    video = shared_dir / "media" / "car-detection.mp4"  # 377 frames: 400 also tests looping
    seq = list(iter_batches(video, batch, max_frames))
    par = list(iter_batches_parallel(video, batch, max_frames, workers, chunk_batches=chunk))
    assert [len(b) for b in par] == [len(b) for b in seq]
    assert sum(map(len, seq)) == max_frames
    for a, b in zip(seq, par):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_missing_video(tmp_path):
    with pytest.raises(InputError, match="expected a readable video"):
        list(iter_batches(tmp_path / "none.mp4", 4, None))
