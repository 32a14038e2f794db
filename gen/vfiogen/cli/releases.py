"""`vfiogen releases`: the pinned releases and whether they are cached."""

from __future__ import annotations

import argparse

from vfiogen.inputs import releases

HELP = "list pinned releases and whether they are cached"


def arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(a: argparse.Namespace) -> int:
    for name, rel in releases.load_pins().items():
        state = "cached" if releases.is_cached(rel) else "not fetched"
        heads = ", ".join(h.split("/")[-1] for h in rel.headers)
        print(
            f"{name:6} Linux {rel.kernel:9} {rel.source:6} {rel.package} "
            f"{rel.version or rel.suite:14} {heads:20} {state}"
        )
    return 0
