#!/usr/bin/env bash
# The main job: the server on the embedded PostgreSQL (data under ./var) unless DATABASE_URL is set.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" ""
exec "$VENV/bin/policy-admin" serve "$@"
