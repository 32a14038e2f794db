"""`vfiogen fetch`: download and verify pinned releases into the cache."""

from __future__ import annotations

import argparse

from vfiogen.inputs import releases

HELP = "download and verify pinned releases into the cache"


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("release", nargs="*", help="release names (default: all)")
    p.add_argument("--all", action="store_true")


def run(a: argparse.Namespace) -> int:
    pins = releases.load_pins()
    for name in list(pins) if a.all or not a.release else a.release:
        print(f"{name}: {releases.fetch(releases.get_release(name))}")
    return 0
