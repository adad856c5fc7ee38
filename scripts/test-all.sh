#!/usr/bin/env bash
# The whole check, as CI runs it (.ci/run execs this): install the package with
# its test extras, install and check the real test services (PostgreSQL, Kafka,
# Debian's Chromium for the browser tests),
# lint, type-check, run the date-sensitive tests on two moved clocks, then the full test suite
# against the real services.
# Exit status: pytest's (exit 5, "no tests collected", counts as failure); if the
# tests pass but ruff or mypy failed, 1.
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

lint_failed=0
step "ruff check ."
"$PY" -m ruff check . || lint_failed=1

step "mypy"
"$PY" -m mypy || lint_failed=1

export SANSHI_REQUIRE_SERVICES=1
set +e
# The tests that read today's date run again on two moved clocks (tests/support/moved_clock.py):
# a day in the 2027 Spring Festival, which the holiday package does not know, before dawn in
# Beijing (the UTC date is still the day before), and New Year's Eve 2031.
moved_failed=0
for when in 2027-02-10T07:30:00+08:00 2031-12-31T20:00:00+08:00; do
  step "pytest -m date_sensitive on a clock moved to $when"
  TEST_NOW="$when" "$PY" -m pytest -q -m date_sensitive -p no:cacheprovider || moved_failed=1
done

step "pytest"
"$PY" -m pytest -q --durations=25
status=$?
set -e

printf '\n== done in %ss\n' "$SECONDS"
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$moved_failed" -ne 0 ]; then
  echo "date-sensitive tests failed on a moved clock (see above)" >&2
  exit 1
fi
if [ "$lint_failed" -ne 0 ]; then
  echo "ruff or mypy failed (see above)" >&2
  exit 1
fi
exit 0
