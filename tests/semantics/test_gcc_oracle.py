"""Acceptance: every pinned release, every ABI, byte-exact against gcc.

Sizes, alignments, field offsets and sizes of every struct and union, every
integer constant and every request number (powerpc64 and mips64el have the
other _IOC encoding), as the real compiler for that target computes them.
The ABIs outside the default set (arm, riscv64, s390x, mips64el: the
syzkaller .const file's arches) are checked on the newest release.
"""

import pytest

from support import RELEASES, release_source, release_spec, require_compiler, synthetic_source
from oracle import mismatches
from vfiogen import pipeline as compiler
from vfiogen.inputs import releases
from vfiogen.ir.abi import ABIS, DEFAULT_ABIS, EXTRA_ABIS


@pytest.mark.gcc
@pytest.mark.parametrize("abi", DEFAULT_ABIS)
@pytest.mark.parametrize("release", RELEASES)
def test_release_matches_gcc(release: str, abi: str) -> None:
    require_compiler(abi)
    checked, bad = mismatches(release_spec(release), release_source(release), abi)
    assert checked > 200  # 4.19 has the fewest: 274
    assert bad == []


@pytest.mark.gcc
@pytest.mark.parametrize("abi", DEFAULT_ABIS)
def test_synthetic_header_matches_gcc(abi: str) -> None:
    require_compiler(abi)
    src = synthetic_source()
    spec = compiler.compile_spec(src, overlay_files={}, warn=False)
    checked, bad = mismatches(spec, src, abi)
    assert checked > 80
    assert bad == []


@pytest.mark.gcc
@pytest.mark.parametrize("abi", EXTRA_ABIS)
def test_extra_abi_matches_gcc(abi: str) -> None:
    require_compiler(abi)
    newest = RELEASES[-1]
    src = release_source(newest)
    tree = releases.fetch(releases.get_release(newest), quiet=True)
    src.arch = {abi: [tree / d for d in ABIS[abi].zig_arch_dirs]}
    spec = compiler.compile_spec(src, abis=(abi,), warn=False)
    checked, bad = mismatches(spec, src, abi)
    assert checked > 800
    assert bad == []
