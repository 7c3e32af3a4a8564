#!/usr/bin/env bash
# `npm run bench`: every benchmark in bench/*.ts, one after another (never in parallel:
# they measure ratios against baselines run in the same process, and two at once on a
# 2-core machine would only measure each other). Helpers live in bench/support/.
# Benchmarks print figures and verdicts; none fails on time. A crash fails the script.
set -uo pipefail
cd "$(dirname "$0")/.."
# Several benches drive the built extension in Chromium (installed here if missing).
bash scripts/ensure-chromium.sh
status=0
ran=0
# Everything printed is also kept, so the closing table can gather every verdict.
output=$(mktemp)
trap 'rm -f "$output"' EXIT
for file in bench/*.ts; do
  [ -e "$file" ] || continue
  ran=$((ran + 1))
  echo "### $file" | tee -a "$output"
  if ! npx tsx "$file" 2>&1 | tee -a "$output"; then
    echo "### $file FAILED" >&2
    status=1
  fi
  echo
done
[ "$ran" -gt 0 ] || { echo "no benchmarks in bench/" >&2; exit 1; }
node scripts/bench-summary.mjs < "$output"
exit "$status"
