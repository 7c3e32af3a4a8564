#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing: browser tests need a real one and
# `npx playwright install` cannot download browsers on this network.
set -euo pipefail
if [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then exit 0; fi
echo "Chromium not found: installing Debian's chromium package…"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "Chromium installed at /usr/bin/chromium"
