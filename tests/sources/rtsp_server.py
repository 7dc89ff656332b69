"""Test helper, run with Debian's python3 (python3-gi + gir1.2-gst-rtsp-server-1.0):
a real GStreamer RTSP server on 127.0.0.1 streaming videotestsrc encoded as H.264 or H.265.

usage: /usr/bin/python3 rtsp_server.py PORT CODEC   (prints "READY" once listening)
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, codec = sys.argv[1], sys.argv[2]
    Gst.init(None)
    enc = {"h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96",
           "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph265pay name=pay0 pt=96"}[codec]
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
                       f"videoconvert ! {enc} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        sys.exit("could not bind")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
