import threading

import pytest

from trtssd.fileio import atomic_path, write_bytes_atomic


def test_concurrent_writers_of_one_file_do_not_collide(tmp_path):
    dst = tmp_path / "model.onnx"
    barrier = threading.Barrier(4)
    errors = []

    def write(i):
        try:
            with atomic_path(dst) as tmp:
                tmp.write_bytes(bytes([i]) * 1000)
                barrier.wait(5)  # all four temp files exist at once
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    data = dst.read_bytes()
    assert len(data) == 1000 and len(set(data)) == 1  # one writer's whole content
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temp file left


def test_failed_write_leaves_no_file(tmp_path):
    dst = tmp_path / "x.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_bytes_atomic(dst, b"whole")
    assert dst.read_bytes() == b"whole"
