"""Target ABIs: C scalar sizes/alignments and the _IOC request encoding.

A header is parsed once; every ABI-dependent fact (layout, sizeof inside
_IOR, request numbers) is computed per ABI from these tables. The numbers are
the psABI's, and the tests check them against gcc for each target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IocEncoding:
    """The bit layout of an ioctl request number (asm-generic/ioctl.h and the
    powerpc/mips/sparc overrides)."""

    name: str
    nrbits: int
    typebits: int
    sizebits: int
    dirbits: int
    none: int
    read: int
    write: int

    def encode(self, direction: int, type_: int, nr: int, size: int) -> int:
        nrshift = 0
        typeshift = nrshift + self.nrbits
        sizeshift = typeshift + self.typebits
        dirshift = sizeshift + self.sizebits
        return (
            (direction << dirshift) | (type_ << typeshift) | (nr << nrshift) | (size << sizeshift)
        ) & 0xFFFFFFFF

    def max_size(self) -> int:
        return (1 << self.sizebits) - 1


GENERIC_IOC = IocEncoding("generic", 8, 8, 14, 2, none=0, read=2, write=1)
POWERPC_IOC = IocEncoding("powerpc", 8, 8, 13, 3, none=1, read=2, write=4)
MIPS_IOC = IocEncoding("mips", 8, 8, 13, 3, none=1, read=2, write=4)


@dataclass(frozen=True, slots=True)
class Abi:
    """One target: sizes and alignments of C's scalar types, in bytes.

    `align_in_struct` is what `_Alignof` reports (i386 puts 8-byte integers
    on 4-byte boundaries inside structs); `__alignof__` would lie there.
    """

    name: str
    pointer: int
    long: int
    llong_align: int
    big_endian: bool
    ioc: IocEncoding
    gcc: str  # the gcc driver that is the layout oracle for this target
    gcc_flags: tuple[str, ...] = ()
    zig_arch_dirs: tuple[str, ...] = ()  # arch include dirs in zig's tree

    def numbering(self) -> tuple[int, ...]:
        """What request numbers and constant values depend on: the scalar
        table and the _IOC bit layout (not byte order, not the encoding's name).
        Two ABIs with the same numbering give the same numbers."""
        ioc = self.ioc
        return (
            self.pointer,
            self.long,
            self.llong_align,
            ioc.nrbits,
            ioc.typebits,
            ioc.sizebits,
            ioc.dirbits,
            ioc.none,
            ioc.read,
            ioc.write,
        )

    def scalar(self, name: str) -> tuple[int, int]:
        """(size, align) of a canonical C scalar type name."""
        if name in ("char", "signed char", "unsigned char", "_Bool"):
            return 1, 1
        if name in ("short", "unsigned short"):
            return 2, 2
        if name in ("int", "unsigned int"):
            return 4, 4
        if name in ("long", "unsigned long"):
            return self.long, self.long
        if name in ("long long", "unsigned long long"):
            return 8, self.llong_align
        if name == "pointer":
            return self.pointer, self.pointer
        if name == "float":
            return 4, 4
        if name == "double":
            return 8, self.llong_align  # i386: 4 in a struct, as long long
        raise KeyError(name)


ABIS: dict[str, Abi] = {
    a.name: a
    for a in (
        Abi(
            "x86_64",
            8,
            8,
            8,
            False,
            GENERIC_IOC,
            "gcc",
            ("-m64",),
            ("x86-linux-any", "x86_64-linux-any"),
        ),
        Abi(
            "i386",
            4,
            4,
            4,
            False,
            GENERIC_IOC,
            "gcc",
            ("-m32",),
            ("x86-linux-any", "i386-linux-any"),
        ),
        Abi(
            "aarch64",
            8,
            8,
            8,
            False,
            GENERIC_IOC,
            "aarch64-linux-gnu-gcc",
            (),
            ("aarch64-linux-any",),
        ),
        Abi(
            "powerpc64",
            8,
            8,
            8,
            True,
            POWERPC_IOC,
            "powerpc64-linux-gnu-gcc",
            (),
            ("powerpc-linux-any", "powerpc64-linux-any"),
        ),
        # Not in DEFAULT_ABIS: checked against gcc (tests/semantics/test_gcc_oracle.py) so
        # that the syzkaller .const file can give their numbers.
        Abi("arm", 4, 4, 8, False, GENERIC_IOC, "arm-linux-gnueabihf-gcc", (), ("arm-linux-any",)),
        Abi(
            "riscv64",
            8,
            8,
            8,
            False,
            GENERIC_IOC,
            "riscv64-linux-gnu-gcc",
            (),
            ("riscv-linux-any",),
        ),
        Abi("s390x", 8, 8, 8, True, GENERIC_IOC, "s390x-linux-gnu-gcc", (), ("s390x-linux-any",)),
        Abi(
            "mips64el",
            8,
            8,
            8,
            False,
            MIPS_IOC,
            "mips64el-linux-gnuabi64-gcc",
            ("-mabi=64",),
            ("mips-linux-any",),
        ),
    )
}

DEFAULT_ABIS: tuple[str, ...] = ("x86_64", "i386", "aarch64", "powerpc64")
EXTRA_ABIS: tuple[str, ...] = tuple(a for a in ABIS if a not in DEFAULT_ABIS)

# syzkaller's Linux arches (the `arches =` line of its .const files) -> the
# ABI whose numbers they use. ppc64le is powerpc64: numbers do not depend on
# byte order. An arch mapped to None has no ABI here, for the reason given.
SYZKALLER_ARCHES: dict[str, str | None] = {
    "386": "i386",
    "amd64": "x86_64",
    "arm": "arm",
    "arm64": "aarch64",
    "loong64": None,
    "mips64le": "mips64el",
    "ppc64le": "powerpc64",
    "riscv64": "riscv64",
    "s390x": "s390x",
}
NO_ABI_REASON = {
    "loong64": "no ABI for LoongArch: Debian bookworm has no cross gcc to check its layout against"
}


def same_numbering(abi: str, among: list[str]) -> str | None:
    """The first of `among` that gives `abi`'s request numbers and values."""
    want = ABIS[abi].numbering()
    return next((a for a in among if a in ABIS and ABIS[a].numbering() == want), None)
