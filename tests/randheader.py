"""A seeded generator of random UAPI-style headers: every construct the front
end claims (packed and aligned attributes on types and members, bit-fields
named, unnamed and zero-width, nested anonymous structs/unions, named
members of inline unnamed types, flexible arrays, flags #defined between
fields, enums with negative values, char literals, _IO* requests, ABI
signed/unsigned conversions such as (-1L < 1U), arrays sized by sizeof)."""

from __future__ import annotations

import random

SCALARS = [
    "__u8",
    "__u16",
    "__u32",
    "__u64",
    "__s8",
    "__s16",
    "__s32",
    "__s64",
    "int",
    "long",
    "unsigned long",
    "char",
    "short",
    "long long",
    "__kernel_size_t",
]
BITFIELD_TYPES = ["__u8", "__u16", "__u32", "__u64", "int", "unsigned int", "long long", "char"]
ATTRS = [
    "__attribute__((packed))",
    "__attribute__((aligned(8)))",
    "__attribute__((aligned(16)))",
    "__attribute__((packed, aligned(4)))",
    "__attribute__((__packed__))",
    "__attribute__((aligned(2)))",
]
CONVERSIONS = [
    "(-1L < 1U)",
    "(-1 < 1U)",
    "(-1LL < 1U)",
    "(-1L < 1UL)",
    "(0xffffffffU + 1L > 0)",
    "(sizeof(long) * 8 - 1)",
    "(-1L >> 1 < 0)",
    "(4294967295 > 0)",
    "(~0UL >> 31)",
    "((long)-1 / 2)",
    "('a' + '\\n')",
    "(-5 % 3)",
    "(1 ? -1 : 1U) > 0",
]


class Gen:
    def __init__(self, seed: int, prefix: str) -> None:
        self.r = random.Random(seed)
        self.p = prefix
        self.n = 0
        self.structs: list[str] = []
        self.enums: list[str] = []
        self.lines: list[str] = []

    def name(self, what: str) -> str:
        self.n += 1
        return f"{self.p}_{what}{self.n}"

    def member(self, depth: int, last: bool) -> list[str]:
        r = self.r
        k = r.random()
        if k < 0.1 and depth < 2:  # anonymous struct/union
            kind = r.choice(["struct", "union"])
            return [f"{kind} {{", *self.members(depth + 1, r.randint(1, 3)), "};"]
        if k < 0.17 and depth < 2:  # named member of an inline unnamed type
            kind = r.choice(["struct", "union"])
            dim = f"[{r.randint(1, 3)}]" if r.random() < 0.5 else ""
            return [
                f"{kind} {{",
                *self.members(depth + 1, r.randint(1, 2)),
                f"}} {self.name('m')}{dim};",
            ]
        if k < 0.3:  # bit-field
            t = r.choice(BITFIELD_TYPES)
            width = {"__u8": 8, "char": 8, "__u16": 16, "__u64": 64, "long long": 64}.get(t, 32)
            if r.random() < 0.15:
                return [f"{t} :{r.choice([0, r.randint(1, width)])};"]
            return [f"{t} {self.name('b')} : {r.randint(1, width)};"]
        if k < 0.37 and self.structs:
            return [f"struct {r.choice(self.structs)} {self.name('s')};"]
        if k < 0.42 and self.enums:  # an enum-typed field (some enums are wider than int)
            return [f"enum {r.choice(self.enums)} {self.name('en')};"]
        t = r.choice(SCALARS)
        dim = ""
        if r.random() < 0.2:
            dim = r.choice([f"[{r.randint(1, 5)}]", "[sizeof(long)]", "[2 * sizeof(__u32)]"])
        if last and r.random() < 0.3:
            dim = "[]"
        attr = f" {r.choice(ATTRS)}" if r.random() < 0.12 else ""
        return [f"{t} {self.name('f')}{dim}{attr};"]

    def members(self, depth: int, count: int) -> list[str]:
        out: list[str] = []
        for i in range(count):
            out += self.member(depth, last=False)
        return out

    def record(self) -> None:
        r = self.r
        kind = "struct" if r.random() < 0.8 else "union"
        tag = self.name("t")
        body: list[str] = [f"__u32 {self.name('f')};"]  # a named member before any flexible array
        count = r.randint(1, 6)
        for i in range(count):
            body += self.member(0, last=(i == count - 1 and kind == "struct"))
            if i == 0 and r.random() < 0.3:  # flags between fields
                body += [f"#define {self.name('FLAG')} (1 << {r.randint(0, 31)})"]
        lead = f" {r.choice(ATTRS[:1] + ATTRS[4:5])}" if r.random() < 0.08 else ""
        trail = f" {r.choice(ATTRS)}" if r.random() < 0.15 else ""
        self.lines += [f"{kind}{lead} {tag} {{", *body, f"}}{trail};"]
        if kind == "struct" and "[]" not in body[-1]:
            self.structs.append(tag)
        if r.random() < 0.6:
            mac = r.choice(["_IO", "_IOR", "_IOW", "_IOWR"])
            nr = r.randint(0, 255)
            what = f"{self.p.upper()}_TYPE, {nr}" + ("" if mac == "_IO" else f", {kind} {tag}")
            self.lines.append(f"#define {self.name('REQ').upper()} {mac}({what})")

    def enum(self) -> None:
        r = self.r
        items = []
        for _ in range(r.randint(1, 5)):
            v = r.choice(
                [
                    "",
                    f" = {r.randint(-100, 100)}",
                    f" = '{r.choice('azAZ09')}'",
                    " = -1",
                    f" = {r.choice(CONVERSIONS)}",
                    f" = 1 << {r.randint(0, 30)}",
                    " = 0x100000000ULL",  # wider than an int: the enum is 8 bytes
                    " = -0x80000001LL",
                    " = 0xffffffffU",
                ]
            )
            if not v and items and items[-1].endswith("0xffffffffU,"):
                v = " = 7"  # unsigned int + 1 overflows the enumerator (a gcc error)
            items.append(f"{self.name('E').upper()}{v},")
        tag = self.name("e")
        self.lines += [f"enum {tag} {{", *items, "};"]
        self.enums.append(tag)

    def constant(self) -> None:
        value = self.r.choice(
            [
                *CONVERSIONS,
                "'x'",
                "'\\0'",
                "-42",
                "0x80000000",
                "(1ULL << 40)",
                "sizeof(struct " + self.r.choice(self.structs) + ")" if self.structs else "7",
            ]
        )
        self.lines.append(f"#define {self.name('C').upper()} {value}")


def header(seed: int, records: int = 40) -> str:
    """A self-contained header text with `records` records and more."""
    g = Gen(seed, f"r{seed}")
    g.lines += [
        f"#ifndef R{seed}_H",
        f"#define R{seed}_H",
        "#include <linux/types.h>",
        "#include <linux/ioctl.h>",
        f"#define R{seed}_TYPE 'R'",
    ]
    for _ in range(records):
        g.record()
        if g.r.random() < 0.3:
            g.enum()
        if g.r.random() < 0.5:
            g.constant()
    g.lines.append("#endif")
    return "\n".join(g.lines) + "\n"
