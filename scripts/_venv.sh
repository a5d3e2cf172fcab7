# Sourced by the scripts: make (or reuse) a virtual environment and install the project into it.
# The install is editable, so a change to the source needs no reinstall: pip runs only when the
# project's metadata changed (a stamp in the venv holds the hash of pyproject.toml, the extras
# and the checkout it was installed from) or the entry point is missing. POLICY_REINSTALL=1 forces it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${POLICY_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
EXTRAS="${1:-}"
_policy_stamp() {  # the stamp's content for a set of extras
  local digest
  digest="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  printf '%s %s %s\n' "$digest" "$ROOT" "${1:-base}"
}
_policy_installed() {  # is the project installed for these extras (the test extras include the base)?
  [ -x "$VENV/bin/policy-admin" ] || return 1
  local stamp="$VENV/.policy-admin-installed"
  [ -f "$stamp" ] || return 1
  grep -qxF "$(_policy_stamp "$1")" "$stamp" && return 0
  [ -z "$1" ] && grep -qxF "$(_policy_stamp test)" "$stamp" && return 0
  return 1
}
if [ "${POLICY_REINSTALL:-0}" = "1" ] || ! _policy_installed "$EXTRAS"; then
  echo "installing policy-admin${EXTRAS:+[$EXTRAS]} into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  _policy_stamp "$EXTRAS" >"$VENV/.policy-admin-installed"
fi
