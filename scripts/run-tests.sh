#!/usr/bin/env bash
# The whole suite: type-check, lint, format check, unit tests and end-to-end tests with real clients, ending with
# one "N passed, N failed" line. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
checks_failed=0

echo "== type-check"
if ! npm run --silent typecheck; then checks_failed=$((checks_failed + 1)); status=1; fi
echo "== lint"
if ! npm run --silent lint; then checks_failed=$((checks_failed + 1)); status=1; fi
echo "== format"
if ! npm run --silent format:check; then checks_failed=$((checks_failed + 1)); status=1; fi

mapfile -t unit < <(find src -name '*.test.ts' | sort)
mapfile -t e2e < <(find test/e2e -name '*.test.ts' | sort)

echo "== unit tests (${#unit[@]} files)"
node --import tsx --test --test-reporter=spec "${unit[@]}" 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== end-to-end tests (${#e2e[@]} files)"
node --import tsx --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "${e2e[@]}" 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

passed=$(grep -E '^ℹ pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
failed=$(grep -E '^ℹ fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
failed=$((failed + checks_failed))
echo "${passed} passed, ${failed} failed"
exit $status
