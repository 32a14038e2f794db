#!/usr/bin/env bash
# Installs libabigail's abidw and abidiff (Debian/Ubuntu `abigail-tools`),
# which tests/analyses/test_diff.py and tests/analyses/test_history.py use as an independent
# ABI oracle (the kernel's check-uapi.sh runs the same tools). Idempotent:
# does nothing when both are already on PATH.
set -euo pipefail
if command -v abidw >/dev/null 2>&1 && command -v abidiff >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing abigail-tools"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq abigail-tools >/dev/null
