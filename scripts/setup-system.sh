#!/usr/bin/env bash
# System packages the tests and live sources need (Debian/Ubuntu). Idempotent: installs only what
# is missing, and does nothing where apt-get is unavailable or we are not root (then it says so).
set -euo pipefail
need=()
# (package list filled in by the pipeline work: GStreamer, RTSP server, Xvfb, Chromium)
pkgs=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-system: please install: ${need[*]} (needs root + apt-get); continuing without them" >&2
  exit 0
fi
echo "setup-system: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
