"""Whole answers of `spec`, `diff` and `history`, replayed from the user cache.

A warm `vfiogen diff 6.1 7.2` spent more time importing the compiler, the IR
and the renderers, and encoding its result, than reading the cached specs.
Its answer (exit status, output text, what it printed on stderr) depends
only on the inputs of those specs and the command's options, so it is kept
whole: the command module names the entry (`Answer`) from the spec keys of
its sources (`spec_keys`, the spec cache's own invalidation rules: the
generator's fingerprint, headers, ABIs, overlays, the pin's tree; for
`diff` and `history` also the report templates and Jinja), and this
module replays it, or runs the command (`cli.compute.<name>`, imported only
then) and records it. A source other than a pinned release is replayed only
while every file the preprocessor read for it is unchanged, as its spec
would be. Nothing here imports the compiler or the IR.

Entries are `marshal` data (built-in types only, no import, 20x faster to
load than JSON for a 1 MB text), keyed by the Python version that wrote them;
a corrupt or malformed entry reads as a miss and is recorded again.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import marshal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from vfiogen import cache, spec_keys
from vfiogen.cli.common import emit
from vfiogen.data import data_dir
from vfiogen.inputs.sources import HeaderSource

KIND = "answers"
FORMAT = "vfiogen-answer-1"

Checked = tuple[str, list[str]]  # a spec's key, the directories its preprocessor searched


@dataclass(slots=True)
class Answer:
    """Where a command's answer is kept, and what must still hold to use it."""

    entry: str
    checked: list[Checked] = field(default_factory=list)


class Parts:
    """The inputs of one answer, collected by the command module."""

    def __init__(self, command: str, *options: object) -> None:
        self.parts: list[str | bytes] = [command, repr(options)]
        self.checked: list[Checked] = []
        self.complete = True  # False: an input is not cacheable (the answer is not kept)

    def source(
        self, src: HeaderSource, abis: tuple[str, ...], overlay_files: dict[str, Path] | None
    ) -> None:
        """A source compiled with `abis` and overlays (None: the shipped ones)."""
        key = spec_keys.key(src, abis, spec_keys.overlays(src, overlay_files))
        if key is None:
            self.complete = False
            return
        self.parts.append(key)
        if src.release is None:
            self.checked.append((key, [str(d) for d in spec_keys.search_path(src)]))

    def pins(self, quiet: bool) -> None:
        """The history of every pinned release."""
        keys = spec_keys.pin_keys(quiet)
        self.complete = self.complete and all(keys)
        self.parts += [k for k in keys if k]

    def templates(self, folder: str) -> None:
        """The templates the answer is rendered with (templates/<folder>: not
        Python, so not in the generator's fingerprint), and the Jinja that
        renders them (its package's `__init__.py`, which holds its version:
        read without importing Jinja)."""
        for path in sorted((data_dir("templates") / folder).glob("*.j2")):
            self.parts += [path.name, cache.file_digest(path)]
        jinja = importlib.util.find_spec("jinja2")
        origin = jinja.origin if jinja is not None else None
        self.parts.append(cache.file_digest(Path(origin)) if origin else "no jinja2")

    def data(self, label: str, content: bytes) -> None:
        """An input read as it is (a spec JSON file)."""
        self.parts += [label, content]

    def answer(self) -> Answer | None:
        if not self.complete:
            return None
        entry = cache.digest(FORMAT, sys.version, cache.fingerprint(), *self.parts)
        return Answer(entry, self.checked)


def replay(answer: Answer, output: str | None) -> int | None:
    """Write the recorded answer (stderr, then the output) and give its exit
    status; None when there is none to use."""
    payload = cache.read(KIND, answer.entry)
    if payload is None:
        return None
    try:
        status, text, err, deps = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None  # checksummed, yet unreadable: written by a broken run
    if not (
        status in (0, 1)
        and isinstance(text, str)
        and isinstance(err, str)
        and isinstance(deps, list)
        and len(deps) == len(answer.checked)
    ):
        return None
    for (_, dirs), recorded in zip(answer.checked, deps):
        if not spec_keys.unchanged(recorded, [Path(d) for d in dirs]):
            return None
    sys.stderr.write(err)
    emit(output, text)
    return int(status)


class _Tee(io.TextIOBase):
    """A stream that writes through to `target` and keeps a copy."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.copy = io.StringIO()

    def write(self, s: str) -> int:
        self.copy.write(s)
        return self.target.write(s)

    def flush(self) -> None:
        self.target.flush()


def record(answer: Answer, output: str | None, run: Callable[[], int]) -> int:
    """Run the command, copying what it writes, and keep its answer when it
    ends with status 0 or 1 (an error raises: never kept)."""
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run()
    to_stdout = output in (None, "-")
    if status not in (0, 1) or (not to_stdout and out.copy.tell()):
        return status
    text = out.copy.getvalue() if to_stdout else Path(str(output)).read_text()
    deps = [spec_keys.recorded_dependencies(key) for key, _ in answer.checked]
    if all(d is not None for d in deps):
        cache.write(KIND, answer.entry, marshal.dumps((status, text, err.copy.getvalue(), deps)))
    return status


def answered(a: argparse.Namespace, answer: Answer | None, run: Callable[[], int]) -> int:
    """The command's exit status: replayed when its answer is kept, else run
    (and recorded when it can be)."""
    if answer is None:
        return run()
    replayed = replay(answer, a.output)
    if replayed is not None:
        return replayed
    return record(answer, a.output, run)
