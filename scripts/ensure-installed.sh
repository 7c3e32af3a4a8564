#!/usr/bin/env bash
# Installs the npm packages when they are missing or the lockfile has changed since they
# were installed, so `npm start` and `npm test` each work as the first command on a fresh
# clone (and after a pull that moved the lockfile). Quiet when nothing is to be done.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.conclave-lockfile.sha256
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
# The lockfile installed last, by this script…
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then exit 0; fi
# …or by npm itself (`npm ci`/`npm install` write node_modules/.package-lock.json after
# package-lock.json: not older means this lockfile is the one installed).
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "$lock_sum" > "$stamp"
  exit 0
fi
echo "Installing the npm packages the lockfile names (a fresh clone: 1–3 minutes)…"
npm ci --no-audit --no-fund
echo "$lock_sum" > "$stamp"
echo "✓ npm packages installed"
