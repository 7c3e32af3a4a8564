#!/usr/bin/env bash
# Installs the npm packages when they are missing, so `npm start` and `npm test` each work
# as the first command on a fresh clone. Quiet when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm writes node_modules/.package-lock.json on every install: newer than the lockfile
# means the install matches it. Otherwise ask npm whether anything is missing (~2 s).
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then exit 0; fi
if [ -d node_modules ] && npm ls --all >/dev/null 2>&1; then exit 0; fi
echo "Installing the npm packages the lockfile names (first run: 1–3 minutes)…"
npm ci --no-audit --no-fund
echo "✓ npm packages installed"
