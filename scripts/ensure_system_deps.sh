#!/usr/bin/env bash
# Installs the Debian packages the test suite uses when they are missing (never a browser download):
# chromium for the report's browser tests, espeak-ng for the demo-set regeneration test.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages for the tests: ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "Missing ${missing[*]} and cannot install here (need root and apt-get)." >&2
  echo "Install them (Debian/Ubuntu: apt-get install ${missing[*]}) and run make test again." >&2
  exit 1
fi
