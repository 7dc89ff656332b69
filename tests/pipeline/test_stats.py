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


def test_fps_meter_counts_frames_over_its_window():
    m = FpsMeter(window=1.0)
    assert m.tick(0.0) == 0.0
    assert m.tick(0.1) == pytest.approx(10.0)
    assert m.tick(0.15) == pytest.approx(2 / 0.15)


def test_fps_meter_reads_bursty_arrivals_as_delivered():
    """Frames in pairs 1 ms apart every 20 ms are 100 frames/s; an average of 1/dt read ~500."""
    m = FpsMeter(window=1.0)
    t = [k * 0.020 + d for k in range(200) for d in (0.0, 0.001)]
    for now in t:
        fps = m.tick(now)
    assert fps == pytest.approx(100.0, rel=0.02)


def test_fps_meter_forgets_frames_older_than_its_window():
    m = FpsMeter(window=1.0)
    for k in range(30):  # 30 FPS for a second ...
        m.tick(k / 30)
    for k in range(1, 11):  # ... then 5 FPS for two seconds
        fps = m.tick(1.0 + 0.2 * k)
    assert fps == pytest.approx(5.0, rel=0.05)


@pytest.mark.parametrize("frames, first_frames, seconds, first, fps", [(160, 16, 2.0, 0.5, 144 / 1.5), (16, 16, 1.0, 1.0, 16.0)])
def test_run_result_rate_after_the_first_batch(frames, first_frames, seconds, first, fps):
    r = RunResult(frames, seconds, StageTimes(), "eos", first, first_frames=first_frames)
    assert r.fps == pytest.approx(fps)


def test_run_result_reports_latency_and_leftover_threads():
    r = RunResult(100, 2.0, StageTimes(), "signal", 0.1, latencies=[i / 1000 for i in range(1, 101)],
                  leftover_threads=["trtssd-infer-0 (loading the model)"])
    assert r.latency_ms(0.5) == pytest.approx(51.0) and r.latency_ms(0.99) == pytest.approx(100.0)
    line = r.summary("trt_ssd_async", "torch")
    assert "latency capture->written p50 51.0 ms, p99 100.0 ms" in line
    assert "threads still running at exit: trtssd-infer-0 (loading the model)" in line


def test_stage_times_summary():
    st = StageTimes()
    st.add("infer", 0.004)
    st.add("infer", 0.006)
    assert st.summary() == "per frame: infer 5.00 ms"
