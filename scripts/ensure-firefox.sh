#!/usr/bin/env bash
# Installs Debian's Firefox ESR when it is missing: the Firefox end-to-end story
# (e2e/firefox.e2e.test.ts) drives a real one, and Playwright's patched Firefox cannot
# be downloaded on this network (nor can geckodriver: puppeteer-core talks WebDriver BiDi
# to Firefox itself).
set -euo pipefail
if [ -x "${FIREFOX_PATH:-/usr/lib/firefox-esr/firefox-esr}" ]; then exit 0; fi
echo "Firefox not found: installing Debian's firefox-esr package…"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq firefox-esr >/dev/null
echo "Firefox installed at /usr/lib/firefox-esr/firefox-esr"
