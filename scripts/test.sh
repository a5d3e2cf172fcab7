#!/usr/bin/env bash
# The test suite: unit tests (fakes), integration tests (real PostgreSQL), end-to-end tests (HTTP),
# browser tests (Debian's Chromium through Playwright, installed when missing).
# PostgreSQL from TEST_DATABASE_URL, else an embedded server started by the suite itself.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" "test"
source "$(dirname "$0")/_chromium.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
