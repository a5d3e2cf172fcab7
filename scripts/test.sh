#!/usr/bin/env bash
# The test suite: unit tests (fakes), integration tests (real PostgreSQL), end-to-end tests (HTTP),
# browser tests (Debian's Chromium through Playwright, installed when missing).
# PostgreSQL from TEST_DATABASE_URL, else an embedded server started by the suite itself.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" "test"
source "$(dirname "$0")/_chromium.sh"
cd "$ROOT"
# The habits first: lint, format and types; any finding fails the run before a test starts.
# (POLICY_SKIP_CHECKS=1 skips them for a quick targeted run while developing; CI never sets it.)
if [ "${POLICY_SKIP_CHECKS:-0}" != "1" ]; then
  echo "ruff check, ruff format --check, mypy (policy_core api scheduler)" >&2
  "$VENV/bin/ruff" check --quiet .
  "$VENV/bin/ruff" format --check --quiet .
  "$VENV/bin/mypy"
fi
exec "$VENV/bin/python" -m pytest "$@"
