#!/usr/bin/env bash
# Builds syzkaller's description checker (syzcheck) from the reference kit,
# the oracle of tests/emit/test_syzkaller.py: syzkaller's own parser and compiler
# run on generated/fuzz/vfio.txt. The kit is read from ../shared/reference/
# syzkaller beside the clone (read-only in CI) or from $VFIOGEN_SYZKALLER_KIT;
# its build.sh fetches Go from Debian sid into the cache directory, so a rerun
# takes seconds. Prints the binary's path as its last line.
#   usage: tests/install-syzcheck.sh [OUTDIR]   (default ~/.cache/vfiogen/syzcheck)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT=${VFIOGEN_SYZKALLER_KIT:-$ROOT/../shared/reference/syzkaller}
OUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiogen/syzcheck}
if [ ! -f "$KIT/build.sh" ]; then
	echo "install-syzcheck.sh: error: no syzkaller kit at $KIT (set VFIOGEN_SYZKALLER_KIT)" >&2
	exit 1
fi
if [ -x "$OUT/bin/syzcheck" ] && [ "$OUT/bin/syzcheck" -nt "$KIT/syzcheck/main.go" ] \
	&& [ "$OUT/bin/syzcheck" -nt "$KIT/build.sh" ]; then
	echo "$OUT/bin/syzcheck"
	exit 0
fi
exec bash "$KIT/build.sh" "$OUT"
