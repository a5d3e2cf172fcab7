# Sourced by scripts/test.sh: the browser tests drive Debian's Chromium (Playwright never downloads one).
# Installs the `chromium` package (and a Japanese font for the screenshots) when it is missing.
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests" >&2
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser tests will fail" >&2
  else
    for attempt in 1 2 3 4 5 6; do  # apt may be locked by another install: retry
      if apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null 2>&1; then
        break
      fi
      sleep 10
    done
  fi
fi
