#!/usr/bin/env bash
# The one test command (README: `npm test`): type check, the import rules, build the extension for
# Chrome and Firefox, then every suite (the end-to-end story last), then one closing
# line "N passed, N failed" that CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."
# The first command on a fresh clone: install what is missing (npm packages, browsers).
bash scripts/ensure-installed.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-firefox.sh
echo "Type check and import rules…"
npx tsc -p tsconfig.json --noEmit
# The package boundaries (eslint.config.js: subpath imports only, servers see only
# @conclave/shared/verify, no API call outside the SDK, pages only through messages/)
# and no circle of imports (scripts/import-cycles.ts).
npm run --silent lint
# The extension: WXT's generated types, then its own type check, then both builds.
npx wxt prepare >/dev/null
npx tsc -p extension/tsconfig.json --noEmit
# Every build must be quiet: a warning one prints fails the run here, so it is fixed at
# its source (scripts/extension-vite.ts, wxt.config.ts) and a newcomer's `npm start`
# shows only what matters.
quiet_build() {
  local what="$1"; shift
  echo "Building $what…"
  local log
  log="$("$@" 2>&1)" || { echo "$log" >&2; exit 1; }
  if grep -E 'WARN|[Ww]arning|annotation that Rollup|externalized|skipped' <<<"$log" >&2; then
    echo "Building $what printed the warning(s) above: fix them where they come from." >&2
    exit 1
  fi
}
quiet_build "the extension for Chrome" npx wxt build -b chrome
quiet_build "the extension for Firefox" npx wxt build -b firefox
# The transport fixture the Chromium tests load (extension/test/platform/fixture).
quiet_build "the transport test fixture" npx tsx scripts/build-test-extension.ts
echo "Running every test suite (about 10 minutes; the end-to-end stories last)…"
# Every vitest project; the `e2e` project (e2e/story.e2e.test.ts, the built
# .output/chrome-mv3 in real Chromium against real servers) runs last, after the others
# (its groupOrder in vitest.config.ts), and fails with a clear message when the build is missing.
results="$(mktemp -d)/vitest.json"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
node scripts/summarise-tests.mjs "$results" || status=$?
exit "$status"
