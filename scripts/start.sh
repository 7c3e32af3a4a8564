#!/usr/bin/env bash
# `npm start`: runs the whole system on this machine, on 127.0.0.1.
# - installs the npm packages first when they are missing (a fresh clone)
# - builds the browser extension (.output/chrome-mv3: load it unpacked)
# - storage API on an embedded SQLite file in .data/ (PostgreSQL if DATABASE_URL is set)
# - signaling server (PeerJS) for peer-to-peer key handover
# Stop with Ctrl-C; everything started here stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

bash scripts/ensure-installed.sh

echo "Building the browser extension (about 20 s)…"
if ! build_log="$(bash scripts/build-extension.sh 2>&1)"; then
  echo "$build_log" >&2
  echo "The extension did not build (above); the servers were not started." >&2
  exit 1
fi
echo "✓ extension built: load $(pwd)/.output/chrome-mv3 unpacked (chrome://extensions → Developer mode → Load unpacked)"
echo "Starting the storage API and the signaling server (Ctrl-C stops both)…"

npx tsx storage-api/src/server.ts &
pids+=($!)
npx tsx signaling-server/src/server.ts &
pids+=($!)

wait -n
