#!/usr/bin/env bash
# The one test command (README: `npm test`): type check, then every suite, then one
# closing line "N passed, N failed" that CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
npx tsc -p tsconfig.json --noEmit
results="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
node scripts/summarise-tests.mjs "$results" || status=$?
exit "$status"
