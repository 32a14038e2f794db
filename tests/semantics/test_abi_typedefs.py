"""Member types whose layout each ABI decides: typedefs and enums.

Records are parsed once and shared by every ABI; a member's typedef is
resolved against the ABI being laid out (layout.py, size_align). The x86
asm headers give the case: __kernel_mode_t and __kernel_ipc_pid_t are
unsigned short on i386 (asm/posix_types_32.h) and unsigned int on x86_64
(asm-generic/posix_types.h); __kernel_old_dev_t is unsigned short on i386
and unsigned long on x86_64 (asm/posix_types_64.h). gcc -m32 / -m64 on the
real headers is the oracle. An enum is an int unless a value needs more
(gcc: an enum with a value above UINT_MAX is 8 bytes, aligned to 4 in an
i386 struct like long long).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle import mismatches
from support import require_compiler
from vfiogen import pipeline
from vfiogen.inputs import releases, sources

HEADER = """\
#ifndef ABI_TYPEDEFS_H
#define ABI_TYPEDEFS_H
#include <linux/types.h>
#include <linux/posix_types.h>

struct abi_typedefs {
	__kernel_mode_t mode;
	__u8 after_mode;
	__kernel_ipc_pid_t pid;
	__u8 after_pid;
	__kernel_old_dev_t dev;
	__u8 after_dev;
};

enum abi_small { ABI_SMALL_A = 1 };
enum abi_wide { ABI_WIDE_A = 0x100000000ULL };

struct abi_enums {
	char c;
	enum abi_small small;
	char d;
	enum abi_wide wide;
};
#endif
"""

ABIS = ("x86_64", "i386")


def compiled(tmp_path: Path):
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux/abi_typedefs.h").write_text(HEADER)
    rel = releases.get_release("7.2")
    tree = releases.fetch(rel, quiet=True)
    src = sources.from_header(tmp_path / "linux/abi_typedefs.h", [tree / rel.generic])
    src.arch = {abi: [tree / rel.arch[abi]] for abi in ABIS}
    return src, pipeline.compile_spec(src, ABIS, overlay_files={}, warn=False)


@pytest.mark.gcc
@pytest.mark.parametrize("abi", ABIS)
def test_per_abi_typedef_matches_gcc(tmp_path: Path, abi: str) -> None:
    """Rule: a member of a typedef'd integer type has this ABI's size and
    alignment, as gcc lays out the same header for the target."""
    require_compiler(abi)
    src, spec = compiled(tmp_path)
    checked, bad = mismatches(spec, src, abi)
    assert checked >= 16
    assert bad == []


def test_the_typedefs_do_differ_between_the_abis(tmp_path: Path) -> None:
    """The header reaches the case: sizes from the asm headers named above."""
    _, spec = compiled(tmp_path)
    rec = spec.records["abi_typedefs"]
    assert (rec.layout["x86_64"].size, rec.layout["i386"].size) == (32, 12)
    enums = spec.records["abi_enums"]
    assert (enums.layout["x86_64"].size, enums.layout["i386"].size) == (24, 20)
