"""Source selection: which GStreamer pipeline each flag builds, and the clear errors for absent devices."""

from __future__ import annotations

import pytest

from trtssd.errors import InputError
from trtssd.sources import gst
from trtssd.sources.factory import SourceConfig, describe_source, open_source


@pytest.fixture
def no_jetson(monkeypatch):
    monkeypatch.setattr(gst, "has_element", lambda name: False)


@pytest.fixture
def jetson(monkeypatch):
    monkeypatch.setattr(gst, "has_element", lambda name: name in {"nvarguscamerasrc", "nvv4l2decoder", "nvvidconv"})


@pytest.mark.parametrize("config, kind, expected", [
    (SourceConfig(rtp=5000, rtp_codec="h264"), "rtp",
     ["udpsrc port=5000", "encoding-name=H264", "rtph264depay", "h264parse", "avdec_h264", "format=BGR,width=640,height=480"]),
    (SourceConfig(rtp=5001, rtp_codec="h265"), "rtp", ["udpsrc port=5001", "encoding-name=H265", "rtph265depay", "avdec_h265"]),
    (SourceConfig(rtsp="rtsp://cam/x", rtsp_latency=50, width=320, height=240), "rtsp",
     ["rtspsrc location=rtsp://cam/x latency=50", "decodebin", "width=320,height=240"]),
    (SourceConfig(gstr="videotestsrc ! video/x-raw,width=64,height=48 !"), "gstr",
     ["videotestsrc ! video/x-raw,width=64,height=48 ! videoconvert ! videoscale"]),
    (SourceConfig(video="x.mp4"), "video", None),
    (SourceConfig(usb="0"), "usb", None),
])
def test_software_pipelines(no_jetson, config, kind, expected):
    got_kind, pipeline = describe_source(config)
    assert got_kind == kind
    if expected is None:
        assert pipeline is None
    else:
        for part in expected:
            assert part in pipeline
        assert "nvv4l2decoder" not in pipeline and "nvvidconv" not in pipeline


@pytest.mark.parametrize("config, expected", [
    (SourceConfig(onboard=1, width=1280, height=720), ["nvarguscamerasrc sensor-id=1", "memory:NVMM", "width=1280,height=720", "nvvidconv"]),
    (SourceConfig(rtp=5000, rtp_codec="h265"), ["rtph265depay", "h265parse ! nvv4l2decoder", "nvvidconv"]),
    (SourceConfig(rtsp="rtsp://cam/x"), ["rtspsrc", "decodebin ! nvvidconv"]),
])
def test_jetson_pipelines_use_hardware_elements(jetson, config, expected):
    _, pipeline = describe_source(config)
    for part in expected:
        assert part in pipeline
    assert "avdec_" not in pipeline


@pytest.mark.parametrize("config, message", [
    (SourceConfig(), "expected exactly one of"),
    (SourceConfig(video="a.mp4", rtp=5000), "--video, --rtp"),
    (SourceConfig(onboard=0), "nvarguscamerasrc"),
    (SourceConfig(rtsp="http://x"), "expected an rtsp:// URI"),
    (SourceConfig(rtp=0), "UDP port"),
    (SourceConfig(rtp=5000, rtp_codec="vp8"), "expected one of h264, h265"),
    (SourceConfig(gstr="  "), "empty"),
    (SourceConfig(gstr="videotestsrc ! appsink"), "without a sink"),
    (SourceConfig(gstr="videotestsrc", width=8), "at least 16x16"),
])
def test_bad_configs_name_what_was_expected(no_jetson, config, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        describe_source(config)


def test_usb_absent_device_is_a_clear_error():
    with pytest.raises(InputError, match=r"expected a V4L2 device /dev/video97"):
        open_source(SourceConfig(usb="97"))


@pytest.mark.skipif(gst.has_element("nvarguscamerasrc"), reason="a Jetson with a CSI stack")
def test_csi_absent_is_a_clear_error():
    with pytest.raises(InputError, match="nvarguscamerasrc .*found it missing"):
        open_source(SourceConfig(onboard=0))


def test_missing_gst_launch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(gst.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="gst-launch-1.0 on PATH"):
        open_source(SourceConfig(gstr="videotestsrc"))
