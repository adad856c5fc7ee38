#!/usr/bin/env bash
# The whole check, as CI runs it (.ci/run execs this): install the package with
# its test extras, install and check the real test services (PostgreSQL, Kafka,
# Debian's Chromium for the browser tests), then, side by side:
#   - the full test suite against the real services, in three pytest-xdist workers
#     (each file runs whole in one worker, with its own PostgreSQL and Kafka);
#   - lint, type-check, and the date-sensitive tests on two moved clocks.
# Why side by side: CI's machine has two cores and much of the suite waits on
# servers and subprocesses; one after the other, the parts left a core idle and
# took longer than CI should (bench/RESULTS.md, "CI time").
# Exit status: pytest's (exit 5, "no tests collected", counts as failure); if the
# tests pass but the moved clocks, ruff or mypy failed, 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-python3}"
step() { printf '\n== %s\n' "$*"; }
SECONDS=0

step "pip install -e .[test]"
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'

step "test services (scripts/install-test-deps.sh)"
bash scripts/install-test-deps.sh

step "browser for the UI tests (scripts/install-browser.sh)"
bash scripts/install-browser.sh

export SANSHI_REQUIRE_SERVICES=1
# Three workers on two cores: much of the suite waits on servers, brokers and subprocesses, and
# a third worker uses a core while another waits (bench/RESULTS.md, "CI time": 1,286 s against
# 1,337-1,409 s with two). SANSHI_TEST_WORKERS=0 runs the suite in this process alone.
WORKERS="${SANSHI_TEST_WORKERS:-3}"
SCHEMATHESIS=tests/unit/test_api_schemathesis.py
side_log="$(mktemp "${TMPDIR:-/tmp}/sanshi-ci-side.XXXXXX")"
schemathesis_log="$(mktemp "${TMPDIR:-/tmp}/sanshi-ci-schemathesis.XXXXXX")"
trap 'rm -f "$side_log" "$schemathesis_log"' EXIT

# Lint, types and the moved clocks, beside the suite; their output is shown when the suite ends.
# The tests that read today's date run again on two moved clocks (tests/support/moved_clock.py):
# a day in the 2027 Spring Festival, which the holiday package does not know, before dawn in
# Beijing (the UTC date is still the day before), and New Year's Eve 2031.
side() {
  local lint_failed=0 moved_failed=0 started
  started=$SECONDS
  step "ruff check ."
  "$PY" -m ruff check . || lint_failed=1
  step "mypy"
  "$PY" -m mypy || lint_failed=1
  # Only the files that name the marker are collected (the whole suite's collection cost each
  # pass ~17 s of a core); tests/conftest.py stops any run that finds the marker in a file that
  # does not name it.
  local moved_files
  mapfile -t moved_files < <(grep -rl --include='test_*.py' -e date_sensitive tests | sort)
  for when in 2027-02-10T07:30:00+08:00 2031-12-31T20:00:00+08:00; do
    step "pytest -m date_sensitive on a clock moved to $when (${#moved_files[@]} files)"
    TEST_NOW="$when" "$PY" -m pytest -q -m date_sensitive -p no:cacheprovider "${moved_files[@]}" \
      || moved_failed=1
  done
  printf '\n== lint and moved clocks done in %ss\n' "$((SECONDS - started))"
  # 1: ruff or mypy failed; 2: a moved clock failed; 3: both.
  return $((lint_failed + 2 * moved_failed))
}
side > "$side_log" 2>&1 &
side_pid=$!

set +e
step "pytest (${WORKERS} workers; lint and the moved clocks run beside it)"
if [ "$WORKERS" -gt 0 ]; then
  # schemathesis gives its 45 tests (one per API operation) a single node id, which xdist
  # would schedule once: that file runs in a plain pytest process of its own, beside.
  "$PY" -m pytest -q -p no:cacheprovider "$SCHEMATHESIS" > "$schemathesis_log" 2>&1 &
  schemathesis_pid=$!
  "$PY" -m pytest -q --durations=25 -n "$WORKERS" --dist loadfile --ignore="$SCHEMATHESIS"
  status=$?
  wait "$schemathesis_pid"
  schemathesis_status=$?
  step "pytest $SCHEMATHESIS (a process of its own)"
  cat "$schemathesis_log"
  if [ "$status" -eq 0 ]; then
    status=$schemathesis_status
  fi
else
  "$PY" -m pytest -q --durations=25
  status=$?
fi
printf '\n== pytest done at %ss\n' "$SECONDS"
wait "$side_pid"
side_status=$?
set -e
cat "$side_log"

printf '\n== done in %ss\n' "$SECONDS"
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$side_status" -gt 3 ]; then
  echo "lint and the moved clocks ended with status $side_status (see above)" >&2
  exit 1
fi
if [ $((side_status & 2)) -ne 0 ]; then
  echo "date-sensitive tests failed on a moved clock (see above)" >&2
  exit 1
fi
if [ $((side_status & 1)) -ne 0 ]; then
  echo "ruff or mypy failed (see above)" >&2
  exit 1
fi
exit 0
