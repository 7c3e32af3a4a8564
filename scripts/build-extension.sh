#!/usr/bin/env bash
# `npm run build:extension`: the extension for Chrome (.output/chrome-mv3, load it
# unpacked) and, with `-b firefox`, for Firefox (.output/firefox-mv2).
set -euo pipefail
cd "$(dirname "$0")/.."
npx wxt prepare >/dev/null
npx wxt build "$@"
