"""Outputs as context managers (after supervision ``VideoSink``): window, video file, image file,
JSON lines; plus drawing."""

from trtssd.sinks.base import Sink
from trtssd.sinks.draw import draw_detections, draw_fps

__all__ = ["Sink", "draw_detections", "draw_fps"]
