#!/usr/bin/env bash
# Everything `make test` runs, with one summary line at the end: the unit and system tests, the
# multi-host test alone (it measures pacing), Plivo's Python SDK against the simulator, and a short
# run of each fuzz target.
set -uo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

failed=0
$swift build --build-tests || exit 1
$swift test --skip-build --disable-xctest --skip MultiHostTests 2>&1 | tee -a "$log" || failed=1
$swift test --skip-build --disable-xctest --filter MultiHostTests 2>&1 | tee -a "$log" || failed=1
python3 scripts/plivo-sdk-check.py 2>&1 | tee -a "$log" || failed=1
scripts/fuzz.sh "${FUZZ_SECONDS:-10}" 2>&1 | tee -a "$log" || failed=1
python3 scripts/compose_test.py 2>&1 | tee -a "$log" || failed=1
python3 scripts/k8s_check.py 2>&1 | tee -a "$log" || failed=1

# Swift Testing closes each run with "Test run with N tests in M suites passed|failed …".
tests=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
# Failed tests, from each run's closing line ("Test run with N tests … failed after … with M issues"
# counts issues, not tests, so count the failed test lines instead).
issues=$(grep -E '^✘ Test .* failed after' "$log" | grep -vc '^✘ Test run with')
fuzzed=$(grep -c '^fuzz .*no crash' "$log")
sdk_passed=$(grep -c '^sdk: all endpoints ok' "$log")
sdk_failed=$(grep -c '^sdk: failed' "$log")
fuzz_failed=$(grep -c '^fuzz .*FAILED' "$log")
deploy_passed=$(grep -Ec '^(compose-test|k8s): passed' "$log")
deploy_failed=$(grep -Ec '^(compose-test|k8s): FAILED' "$log")
passed=$(( ${tests:-0} + fuzzed + sdk_passed + deploy_passed ))
if [ "$failed" -ne 0 ]; then
  echo "summary: $(( passed - ${issues:-0} - fuzz_failed )) passed, $(( ${issues:-1} + fuzz_failed + sdk_failed + deploy_failed )) failed"
  exit 1
fi
echo "summary: $passed passed, 0 failed"
