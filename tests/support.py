"""Shared test helpers: pinned releases (fetched once), compiled specs
(cached), and the synthetic header's source with every ABI's include dirs.
Imported as `support` (a conftest module name is not unique across dirs)."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vfiogen import pipeline as compiler
from vfiogen.inputs import releases
from vfiogen.inputs import sources  # noqa: E402
from vfiogen.ir.abi import ABIS  # noqa: E402
from vfiogen.ir.model import Spec  # noqa: E402

HERE = Path(__file__).parent
C_FILES = HERE / "c_files"
RELEASES = list(releases.load_pins())
IN_CI = os.environ.get("CI") == "true"


@functools.lru_cache(maxsize=None)
def release_source(name: str) -> sources.HeaderSource:
    return sources.from_release(name, quiet=True)


@functools.lru_cache(maxsize=None)
def release_spec(name: str) -> Spec:
    return compiler.compile_spec(release_source(name), warn=False)


def synthetic_source(header: str = "linux/synth.h") -> sources.HeaderSource:
    """A test header compiled against 7.2's UAPI tree, with each ABI's asm dir."""
    tree = releases.fetch(releases.get_release("7.2"), quiet=True)
    rel = releases.get_release("7.2")
    src = sources.from_header(C_FILES / header, [tree / rel.generic])
    src.arch = {abi: [tree / d] for abi, d in rel.arch.items()}
    return src


def require_compiler(abi: str) -> None:
    """Cross compilers are installed by `make setup`; CI must have them."""
    if shutil.which(ABIS[abi].gcc) is None:
        if IN_CI:
            pytest.fail(f"{ABIS[abi].gcc} missing in CI: `make setup` should install it")
        pytest.skip(f"{ABIS[abi].gcc} not installed (run `make setup`)")
