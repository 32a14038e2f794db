"""The layout oracle: ask gcc itself for sizes, alignments, offsets and values.

A generated C file puts each fact into the assembly as `.ascii "->NAME VALUE"`
(the kernel's asm-offsets technique), compiled with `-S` only, so no target
libc or linker is needed; the same works for x86_64, i386 (-m32), aarch64
and powerpc64 cross compilers. Facts are named `size:T`, `align:T`,
`offset:T.f`, `fsize:T.f`, `value:NAME`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from vfiogen.ir.abi import ABIS
from vfiogen.inputs.sources import HeaderSource


def compiler_for(abi: str) -> str | None:
    return shutil.which(ABIS[abi].gcc)


# The asm operand modifier that prints an immediate bare ("%c0"); RISC-V's
# and mips64el gcc have no %c, s390x's %c is a signed byte; both print immediates bare.
BARE_OPERAND = {"riscv64": "", "s390x": "", "mips64el": ""}


def probe_source(source: HeaderSource, view: dict, values: bool = True, abi: str = "") -> str:
    c = BARE_OPERAND.get(abi, "c")
    lines = [f"#include <{name}>" for name, _ in source.headers]
    # Four 16-bit chunks: a 64-bit value is not a valid immediate on every target.
    lines.append('#define C(v, k) "i"((int)(((unsigned long long)(v) >> (16 * k)) & 0xffff))')
    lines.append(
        f'#define P(name, val) __asm__ volatile("\\n.ascii \\"->" name " %{c}0 %{c}1 %{c}2 %{c}3\\"" '
        ":: C(val, 0), C(val, 1), C(val, 2), C(val, 3))"
    )
    lines.append("void vfiogen_probe(void) {")
    for tag, t in view["types"].items():
        ref = f"{t['kind']} {tag}"
        lines.append(f'P("size:{tag}", sizeof({ref}));')
        lines.append(f'P("align:{tag}", _Alignof({ref}));')
        for fname, f in t["fields"].items():
            lines.append(f'P("offset:{tag}.{fname}", __builtin_offsetof({ref}, {fname}));')
            if f["size"] or not _maybe_flexible(tag, fname, t):
                lines.append(f'P("fsize:{tag}.{fname}", sizeof((({ref} *)0)->{fname}));')
    if values:
        for name in view["constants"]:
            lines.append(f'P("value:{name}", {name});')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _maybe_flexible(tag: str, fname: str, t: dict) -> bool:
    return t["fields"][fname]["size"] == 0


def run(
    source: HeaderSource, abi: str, view: dict, values: bool = True, workdir: Path | None = None
) -> dict[str, int]:
    cc = compiler_for(abi)
    assert cc is not None, f"no compiler for {abi}"
    text = probe_source(source, view, values, abi)
    flags = list(ABIS[abi].gcc_flags)
    arch_dirs = source.arch.get(abi)
    if arch_dirs:
        flags.append("-nostdinc")
        dirs = source.include_dirs(abi)
    else:
        dirs = list(source.generic)  # the cross compiler's sysroot supplies asm/
    flags += [f"-D{d}" for d in source.defines]
    cmd = [cc, *flags, *(f"-I{d}" for d in dirs), "-S", "-o", "-", "-x", "c", "-"]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"gcc probe failed for {abi}:\n{proc.stderr[:3000]}")
    facts = {}
    for m in re.finditer(r'\.ascii\s+"->(\S+) (\d+) (\d+) (\d+) (\d+)"', proc.stdout):
        chunks = [int(m.group(i)) for i in range(2, 6)]
        value = sum(c << (16 * k) for k, c in enumerate(chunks))
        facts[m.group(1)] = value - (1 << 64) if value >= 1 << 63 else value
    return facts
