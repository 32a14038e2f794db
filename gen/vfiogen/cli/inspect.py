"""`vfiogen inspect`: one ABI's layouts, constants and requests."""

from __future__ import annotations

import argparse
import json
import sys

from vfiogen.cli.common import add_source_args
from vfiogen.cli.compile import compile_from_args
from vfiogen.emit.reports import inspect
from vfiogen.ir.abi import ABIS

HELP = "one ABI's layouts, constants and requests"


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--abi", default="x86_64", choices=list(ABIS))
    p.add_argument("--json", action="store_true", help="the JSON object instead of tables")


def run(a: argparse.Namespace) -> int:
    v = inspect.view(compile_from_args(a), a.abi)
    sys.stdout.write(json.dumps(v, indent=1) + "\n" if a.json else inspect.tables(v))
    return 0
