import pytest

from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes


@pytest.mark.parametrize(
    "frames, seconds, first, fps, overall",
    [
        (101, 3.0, 2.0, 100.0, 101 / 3.0),  # a 2 s warm-up (GPU autotuning) does not hide the steady rate
        (10, 1.0, 0.0, 9.0, 10.0),
        (1, 0.5, 0.5, 2.0, 2.0),  # one frame: nothing after the first, report the overall rate
        (0, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_run_result_rates(frames, seconds, first, fps, overall):
    r = RunResult(frames, seconds, StageTimes(), "eos", first)
    assert r.fps == pytest.approx(fps) and r.overall_fps == pytest.approx(overall)
    line = r.summary("trt_ssd", "onnxruntime")
    assert line.startswith(f"trt_ssd: {frames} frames") and "backend onnxruntime" in line
    assert ("warm-up" in line) == (frames >= 2)


def test_fps_meter_smooths_intervals():
    m = FpsMeter(smoothing=0.5)
    assert m.tick(0.0) == 0.0
    assert m.tick(0.1) == pytest.approx(10.0)
    assert m.tick(0.15) == pytest.approx(0.5 * 10 + 0.5 * 20)


def test_stage_times_summary():
    st = StageTimes()
    st.add("infer", 0.004)
    st.add("infer", 0.006)
    assert st.summary() == "per frame: infer 5.00 ms"
