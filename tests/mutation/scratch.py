"""A scratch copy of the checkout to mutate, and one-line mutants applied to it.

Mutants never touch the working tree: the checkout (without .git and caches)
is copied once, each mutant edits the copy and is reverted after its tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = Path(__file__).with_name("sample.toml")
SKIP = shutil.ignore_patterns(
    ".git", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", "build", "*.egg-info"
)
# where moved code is looked for when a mutant's file no longer has its line
SEARCH = ("gen", "generated/vfio")


@dataclass(frozen=True)
class Mutant:
    id: str
    rule: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


def load_sample(path: Path = SAMPLE) -> list[Mutant]:
    with path.open("rb") as f:
        entries = tomllib.load(f)["mutant"]
    return [Mutant(**{**e, "tests": tuple(e["tests"])}) for e in entries]


def copy_checkout(dest: Path, root: Path = ROOT) -> Path:
    shutil.copytree(root, dest, ignore=SKIP, symlinks=True)
    return dest


def locate(tree: Path, m: Mutant) -> Path:
    """The one file of `tree` holding the mutant's line: its own file, or
    wherever the code moved to."""
    own = tree / m.file
    if own.is_file() and own.read_text().count(m.old) == 1:
        return own
    found = [
        p
        for d in SEARCH
        for p in sorted((tree / d).rglob("*.py"))
        if p.read_text(errors="replace").count(m.old) == 1
    ]
    if len(found) != 1:
        where = ", ".join(str(p.relative_to(tree)) for p in found) or "nowhere"
        raise LookupError(
            f"mutant {m.id}: {m.old!r} is in {where}, not once in {m.file}; "
            f"update {SAMPLE.relative_to(ROOT)}"
        )
    return found[0]


def run_tests(
    tree: Path, tests: tuple[str, ...], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """pytest on `tests` inside `tree`, stopping at the first failure."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # the copy's gen/ (pyproject's pythonpath), not the checkout's
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)


def killed(tree: Path, m: Mutant) -> tuple[bool, str]:
    """Apply `m` in `tree`, run its tests, revert: (tests failed, their output).
    Only pytest's status 1 counts: an import or collection error (2, 4) is
    no test catching the bug."""
    path = locate(tree, m)
    original = path.read_text()
    path.write_text(original.replace(m.old, m.new, 1))
    try:
        proc = run_tests(tree, m.tests)
    finally:
        path.write_text(original)
    return proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]  # 1: tests failed
