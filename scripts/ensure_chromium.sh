#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing (never a browser download).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium not found and cannot be installed here (need root and apt-get)." >&2
  echo "Install it (Debian/Ubuntu: apt-get install chromium) and run make test again." >&2
  exit 1
fi
