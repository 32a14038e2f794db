"""Command line: `vfiogen COMMAND`, one module of this package per command.

Each command module has HELP (and optionally DESCRIPTION), `arguments(p)`
and `run(args) -> exit status`. Only the module of the command being run is
imported (the emitters and their libraries cost most of a short command's
time); `vfiogen --help` imports them all. A command whose whole answer is
kept in the user cache (`spec`, `diff`, `history`: `cli.answers`) has
`answer(args)` instead of `run`, and its work lives in
`vfiogen.cli.compute.<name>`, imported only when the answer is not kept: a
warm answer never imports the compiler. Every command that compiles takes
one source, given positionally (a pinned release name, a header file, a
kernel tree, `DIR@REF` for a git ref) or with the explicit options. Errors
are one line `file:line: message` on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

from vfiogen import __version__
from vfiogen.cli import answers
from vfiogen.errors import VfiogenError

COMMANDS = (
    "spec",
    "inspect",
    "report",
    "build",
    "fetch",
    "releases",
    "diff",
    "history",
    "docs",
    "wheel",
)


def command_module(name: str) -> ModuleType:
    """vfiogen.cli.<name>, the module of one command."""
    return importlib.import_module(f"vfiogen.cli.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with `only` that one."""
    p = argparse.ArgumentParser(prog="vfiogen", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"vfiogen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in (only,) if only else COMMANDS:
        module = command_module(name)
        sp = sub.add_parser(
            name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP)
        )
        module.arguments(sp)
    return p


def run(args: argparse.Namespace) -> int:
    """The exit status of the parsed command: its kept answer replayed, or
    the command run (and its answer kept when the command has one)."""
    module = command_module(args.command)
    if not hasattr(module, "answer"):
        return int(module.run(args))

    def work() -> int:
        return int(importlib.import_module(f"vfiogen.cli.compute.{args.command}").run(args))

    return answers.answered(args, module.answer(args), work)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = next((w for w in argv if not w.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    debug = "--debug" in argv
    args = parser.parse_args([w for w in argv if w != "--debug"])
    try:
        return run(args)
    except VfiogenError as exc:
        print(f"vfiogen: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal error: one line unless --debug
        if debug:
            raise
        import traceback  # only here: a warm command's start-up does without it

        frames = [
            f.filename for f in traceback.extract_tb(exc.__traceback__) if "vfiogen" in f.filename
        ]
        stage = Path(frames[-1] if frames else "?").with_suffix("").name  # the module that failed
        source = next(
            (
                getattr(args, k)
                for k in ("header", "release", "kernel_tree", "git", "source")
                if getattr(args, k, None)
            ),
            "the input",
        )
        print(
            f"vfiogen: {source}: internal error in {stage} ({type(exc).__name__}: {exc}); "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return 2
