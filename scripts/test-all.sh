#!/usr/bin/env bash
# The one test command (README: `npm test`): type check, then every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
npx tsc -p tsconfig.json --noEmit
npx vitest run
