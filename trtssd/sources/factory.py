"""One factory for all sources, driven by a typed config (the CLI builds it from its flags)."""

from __future__ import annotations

from dataclasses import dataclass

from trtssd.errors import InputError
from trtssd.sources.base import Source

INPUT_KINDS = ("image", "video", "usb", "onboard", "rtsp", "gstr", "rtp")


@dataclass(frozen=True)
class SourceConfig:
    """Which source to open. Exactly one of the input fields is set.

    ``image``: one file, a directory or a glob; ``video``: a file; ``usb``: V4L2 index or path;
    ``onboard``: Jetson CSI sensor id; ``rtsp``: URI (``rtsp_latency`` ms jitter buffer, reconnects
    with backoff); ``gstr``: GStreamer pipeline description producing raw video; ``rtp``: UDP port
    receiving RTP ``rtp_codec`` (h264/h265).
    ``width``/``height``: capture size for cameras and GStreamer sources; with ``do_resize`` also the
    size file frames are resized to (as the original trt_ssd.py flags).
    """

    image: str | None = None
    video: str | None = None
    usb: str | None = None
    onboard: int | None = None
    rtsp: str | None = None
    gstr: str | None = None
    rtp: int | None = None
    video_looping: bool = False
    width: int = 640
    height: int = 480
    do_resize: bool = False
    repeat_image: bool = False
    rtsp_latency: int = 200
    rtp_codec: str = "h264"

    def kinds(self) -> list[str]:
        return [k for k in INPUT_KINDS if getattr(self, k) is not None]


def describe_source(config: SourceConfig) -> tuple[str, str | None]:
    """``(kind, gst_pipeline_or_None)`` that :func:`open_source` would use (no device is opened)."""
    from trtssd.sources import gst

    kinds = config.kinds()
    if len(kinds) != 1:
        flags = " / ".join(f"--{k}" for k in INPUT_KINDS)
        raise InputError(f"input: expected exactly one of {flags}, found {', '.join('--' + k for k in kinds) or 'none'}")
    kind, w, h = kinds[0], config.width, config.height
    if w < 16 or h < 16:
        raise InputError(f"--width/--height: expected at least 16x16, found {w}x{h}")
    if kind == "onboard":
        return kind, gst.csi_pipeline(config.onboard, w, h)
    if kind == "rtsp":
        return kind, gst.rtsp_pipeline(config.rtsp, config.rtsp_latency, w, h)
    if kind == "rtp":
        return kind, gst.rtp_pipeline(config.rtp, config.rtp_codec, w, h)
    if kind == "gstr":
        return kind, gst.custom_pipeline(config.gstr, w, h)
    return kind, None


def open_source(config: SourceConfig) -> Source:
    """Open the source ``config`` names; raises InputError naming what was expected."""
    from trtssd.sources.files import ImageFolderSource, ImageSource, VideoFileSource, is_image_collection
    from trtssd.sources.gst import GstSource, Reconnect
    from trtssd.sources.live import UsbCameraSource

    kind, pipeline = describe_source(config)
    size = (config.width, config.height) if config.do_resize else None
    if kind == "image":
        if is_image_collection(config.image):
            return ImageFolderSource(config.image, size_wh=size)
        return ImageSource(config.image, repeat=config.repeat_image, size_wh=size)
    if kind == "video":
        return VideoFileSource(config.video, looping=config.video_looping, size_wh=size)
    if kind == "usb":
        return UsbCameraSource(config.usb, config.width, config.height)
    names = {"onboard": f"CSI camera {config.onboard}", "rtsp": f"RTSP {config.rtsp}",
             "rtp": f"RTP/UDP port {config.rtp}", "gstr": "GStreamer pipeline"}
    return GstSource(pipeline, config.width, config.height, name=names[kind],
                     reconnect=Reconnect(enabled=kind in ("rtsp", "rtp")))
