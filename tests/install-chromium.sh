#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests of the docs (tests/emit/test_docs.py).
# Idempotent: does nothing when /usr/bin/chromium is already there. The tests
# drive this browser with playwright's Python client; no browser is downloaded.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
	chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
